// Taking a lock: the waiting policy (when to look again, when to give up, when to warn)
// and the one loop that drives an attempt, run by a synchronous driver (File's
// constructor is synchronous) and an asynchronous one.

import { debug } from "../debug.js";
import { LockTimeoutError, describeHolder } from "../errors.js";
import { Attempt } from "./attempt.js";
import type { HeldLock } from "./held-lock.js";
import type { LockMode } from "./modes.js";
import { lockOptions, type LockOptions } from "./options.js";
import { generation, sleepUntilWoken } from "./wake.js";

/** The first pause between looks (ms); it doubles up to MAX_DELAY_MS. */
const FIRST_DELAY_MS = 0.05;
const MAX_DELAY_MS = 2;
/** A waiter behind others polls at least this slowly: in this process a release wakes it at once. */
const BEHIND_DELAY_MS = 10;

/** When to look again, and when a wait has lasted too long. */
class WaitPolicy {
  readonly started = performance.now();
  #delay = FIRST_DELAY_MS;
  #warned = false;

  constructor(
    readonly attempt: Attempt,
    readonly options: LockOptions,
  ) {}

  /** The next pause: short at first, as the hand-off between processes depends on it, then backing off. */
  nextDelay(): number {
    const d = this.attempt.standingBack ? Math.max(this.#delay, BEHIND_DELAY_MS) : this.#delay;
    this.#delay = Math.min(this.#delay * 2, MAX_DELAY_MS);
    return d;
  }

  /** Throws LockTimeoutError once the wait passes timeoutMs; warns once past warnAfterMs. */
  check(): void {
    const waited = performance.now() - this.started;
    const { path, mode } = this.attempt;
    if (waited >= this.options.timeoutMs) {
      debug("timeout %s %s after %d ms", path, mode, Math.round(waited));
      throw new LockTimeoutError(path, mode, this.attempt.holders(), waited);
    }
    if (!this.#warned && waited >= this.options.warnAfterMs) {
      this.#warned = true;
      const list = this.attempt.holders().map(describeHolder).join("; ");
      const warning = Object.assign(new Error(`waiting ${Math.round(waited / 1000)} s for a ${mode} lock on ${path}: held ${list}`), {
        name: "H5ThreadsafeWarning",
        code: "H5TS_LONG_WAIT",
      });
      // Emitted at once: a synchronous wait keeps process.emitWarning's tick from coming.
      process.emit("warning", warning);
    }
  }
}

/** A pause the loop asks its driver for: up to `ms`, or until the wake counter moves from `seen`. */
interface Pause {
  ms: number;
  seen: number;
}

/** The one loop: steps the attempt until it holds, pausing between steps; gives everything back on any error. */
function* take(path: string, mode: LockMode, options?: Partial<LockOptions>): Generator<Pause, HeldLock> {
  const o = lockOptions(options);
  const attempt = new Attempt(path, mode, o);
  try {
    const fast = attempt.tryIdle();
    if (fast) return fast;
    const policy = new WaitPolicy(attempt, o);
    for (;;) {
      const seen = generation(); // read before looking: a release after it cuts the pause short
      const held = attempt.step();
      if (held) {
        if (debug.enabled) debug("acquire %s %s after %d ms", path, mode, Math.round(performance.now() - policy.started));
        return held;
      }
      policy.check();
      yield { ms: policy.nextDelay(), seen };
    }
  } catch (e) {
    attempt.abandon();
    throw e;
  }
}

/** Takes a lock on `path` (a canonical path), waiting synchronously while others conflict. */
export function acquireSync(path: string, mode: LockMode, options?: Partial<LockOptions>): HeldLock {
  const loop = take(path, mode, options);
  for (let r = loop.next(); ; r = loop.next()) {
    if (r.done) return r.value;
    sleepUntilWoken(r.value.seen, r.value.ms);
  }
}

/** Takes a lock on `path`, waiting without blocking the event loop. */
export async function acquire(path: string, mode: LockMode, options?: Partial<LockOptions>): Promise<HeldLock> {
  const loop = take(path, mode, options);
  for (let r = loop.next(); ; r = loop.next()) {
    if (r.done) return r.value;
    await new Promise((resolve) => setTimeout(resolve, r.value.ms));
  }
}
