// Taking a lock: the waiting policy (when to look again, when to give up, when to warn)
// and the one loop that drives an attempt (and then an optional gate: the data file's own
// OS lock), run by a synchronous driver (File's constructor is synchronous) and an
// asynchronous one.

import { isMainThread } from "node:worker_threads";
import { debug } from "../debug.js";
import { LockTimeoutError, aLock, describeHolder, warnNow, type HolderInfo } from "../errors.js";
import { Attempt } from "./attempt.js";
import type { HeldLock } from "./held-lock.js";
import type { FileIdentity } from "./path.js";
import type { LockMode } from "./modes.js";
import { lockOptions, type LockOptions } from "./options.js";
import { answerCloseRequest, signalsUnhandledDuring } from "../process/signals.js";
import { FolderWatch } from "./watch.js";
import { generation, sleepUntilWoken, sleepUntilWokenAsync } from "./wake.js";

/** The first pause between looks (ms); it doubles up to MAX_DELAY_MS. */
const FIRST_DELAY_MS = 0.05;
const MAX_DELAY_MS = 2;
/** A waiter behind others polls at least this slowly: in this process a release wakes it at once. */
const BEHIND_DELAY_MS = 10;
/** A waiter that watches every folder of the file (watch.ts) looks this often: a change on this host wakes it at once. */
const WATCHED_DELAY_MS = 20;

/** When to look again, and when a wait has lasted too long. */
class WaitPolicy {
  readonly started = performance.now();
  #delay = FIRST_DELAY_MS;
  #warned = false;

  constructor(
    readonly attempt: Attempt,
    readonly options: LockOptions,
    /** Whether the wait blocks this thread now (a synchronous driver). */
    readonly blocking: () => boolean,
  ) {}

  /** The next pause: short at first, as the hand-off between processes depends on it, then backing off. */
  nextDelay(behind = false): number {
    const d = behind ? Math.max(this.#delay, BEHIND_DELAY_MS) : this.#delay;
    this.#delay = Math.min(this.#delay * 2, MAX_DELAY_MS);
    return d;
  }

  /** Throws LockTimeoutError once the wait passes timeoutMs; warns once past warnAfterMs. `holders`: who is in the way. */
  check(holders: () => HolderInfo[]): void {
    const waited = performance.now() - this.started;
    const { path, mode } = this.attempt;
    if (waited >= this.options.timeoutMs) {
      debug("timeout %s %s after %d ms", path, mode, Math.round(waited));
      throw new LockTimeoutError(path, mode, holders(), waited);
    }
    if (!blockingWarned && isMainThread && waited >= BLOCKING_WARN_MS && this.blocking()) {
      blockingWarned = true;
      warnNow(
        "H5TS_BLOCKING_WAIT",
        `a synchronous open has blocked the main thread's event loop for ${Math.round(waited)} ms, waiting for ${aLock(mode)} on ${path}; openFileAsync and withFileAsync wait without blocking it`,
      );
    }
    if (!this.#warned && waited >= this.options.warnAfterMs) {
      this.#warned = true;
      const list = holders().map(describeHolder).join("; ");
      warnNow("H5TS_LONG_WAIT", `waiting ${Math.round(waited / 1000)} s for ${aLock(mode)} on ${path}: held ${list}`);
    }
  }
}

/** A synchronous wait this long on the main thread is said once per process (H5TS_BLOCKING_WAIT). */
const BLOCKING_WARN_MS = 1000;
let blockingWarned = false;

/** A pause the loop asks its driver for: up to `ms`, or until the wake counter moves from `seen`. */
interface Pause {
  ms: number;
  seen: number;
  /** A wait for other records (not for the gate): a change in the lock folders may end it. */
  records?: boolean;
}

/**
 * How a synchronous wait sleeps between looks: on the shared counter (a release in this
 * process wakes it at once), or, once another process is in the way, on a watch of the
 * lock folders (watch.ts), which a change anywhere on this host ends.
 */
class Sleeper {
  #watch: FolderWatch | undefined;
  #tried = false;

  /** `attempt`: the request, as of its last look. */
  constructor(readonly attempt: Attempt) {}

  sleep(pause: Pause): void {
    const attempt = this.attempt;
    // Waiting for threads of this process only, the counter is enough; a watch would wake
    // every waiting thread at every mark of any of them. A short wait needs none either:
    // the watch begins once the looks have backed off to their longest pause.
    if (pause.records && pause.ms >= MAX_DELAY_MS && !this.#tried && attempt.blockedByOthers) {
      this.#tried = true;
      this.#watch = FolderWatch.start(attempt.folders);
      // A change between the last look and the watch's start would go unseen: look again first.
      if (this.#watch) return;
    }
    const watch = this.#watch;
    if (!pause.records || !watch) return sleepUntilWoken(pause.seen, pause.ms);
    // Watching every folder, with nobody in the way on another host, it need not look
    // often: a change wakes it. (The timeout and signals keep their meaning.)
    const ms = watch.complete && !attempt.blockedFromAfar ? Math.max(pause.ms, WATCHED_DELAY_MS) : pause.ms;
    watch.sleep(pause.seen, ms, (name) => attempt.blockedBy(name));
  }

  close(): void {
    this.#watch?.close();
  }
}

/**
 * A second condition that a granted lock must meet before it counts as taken, polled with
 * the same policy: the OS lock on the data file itself, which native programs take
 * (src/native/gate.ts).
 */
export interface Gate {
  /** One non-blocking try; true once passed. */
  tryPass(): boolean;
  /** Who stands in the way, for the long-wait warning and the timeout error. */
  blockers(): HolderInfo[];
  /** Given up (an error, a timeout, cancel): let go of whatever it holds. */
  abandon(): void;
}

/** The one loop: steps the attempt until it holds and the gate is passed, pausing between steps; gives everything back on any error or when given up. */
function* take(attempt: Attempt, gate: Gate | undefined, blocking: () => boolean): Generator<Pause, HeldLock> {
  let held: HeldLock | undefined;
  let taken = false;
  try {
    const policy = new WaitPolicy(attempt, attempt.options, blocking);
    held = attempt.tryIdle();
    while (!held) {
      const seen = generation(); // read before looking: a release after it cuts the pause short
      held = attempt.step();
      if (held) break;
      policy.check(() => attempt.holders());
      yield { ms: policy.nextDelay(attempt.standingBack), seen, records: true };
    }
    while (gate && !gate.tryPass()) {
      policy.check(() => gate.blockers());
      yield { ms: policy.nextDelay(), seen: generation() };
    }
    taken = true;
    if (debug.enabled) debug("acquire %s %s after %d ms", attempt.path, attempt.mode, Math.round(performance.now() - policy.started));
    return held;
  } finally {
    if (!taken) {
      // An error, a timeout, or cancel(): nothing of it may stay.
      if (held) held.release(true);
      else attempt.abandon();
      gate?.abandon();
    }
  }
}

export interface AcquisitionOptions extends Partial<LockOptions> {
  /** The place in line, when an earlier request's place is taken over (µs since the epoch). */
  since?: number;
  gate?: Gate;
  /** The file's identity where it exists (path.ts): a file with several names is locked by its inode. */
  id?: FileIdentity;
}

/**
 * One request for a lock, which a synchronous and an asynchronous driver can both move
 * on: an open that must not block the event loop waits with run(), and a synchronous open
 * of the same file in the same thread can take over with runSync() instead of waiting
 * behind it (it would wait for ever: the thread that would move run() on is blocked).
 */
export class Acquisition {
  readonly path: string;
  readonly mode: LockMode;
  readonly #attempt: Attempt;
  readonly #gate: Gate | undefined;
  readonly #loop: Generator<Pause, HeldLock>;
  #held: HeldLock | undefined;
  #error: { error: unknown } | undefined;
  /** Driven by runSync now: the thread is blocked. */
  #blocking = false;

  constructor(path: string, mode: LockMode, options: AcquisitionOptions = {}) {
    this.path = path;
    this.mode = mode;
    const { since, gate, id, ...lock } = options;
    this.#attempt = new Attempt(path, mode, lockOptions(lock), since, id);
    this.#gate = gate;
    this.#loop = take(this.#attempt, gate, () => this.#blocking);
  }

  /** Who stands in the way, as of the last look (past it, the data file's native holders). */
  holders(): HolderInfo[] {
    const holders = this.#attempt.holders();
    return holders.length > 0 || !this.#gate ? holders : this.#gate.blockers();
  }

  /** When the request began: its place in line. */
  get since(): number {
    return this.#attempt.since;
  }

  get done(): boolean {
    return this.#held !== undefined || this.#error !== undefined;
  }

  /** The lock, once it holds. */
  get held(): HeldLock | undefined {
    return this.#held;
  }

  /** It ended without the lock (an error, a timeout, or cancel()). */
  get failed(): boolean {
    return this.#error !== undefined;
  }

  /** One step; the pause to make before the next, or undefined once it holds (or failed: then it throws). */
  #next(): Pause | undefined {
    if (this.#error) throw this.#error.error;
    if (this.#held) return undefined;
    try {
      const r = this.#loop.next();
      if (!r.done) return r.value;
      this.#held = r.value;
      return undefined;
    } catch (error) {
      this.#error = { error };
      throw error;
    }
  }

  /** Waits synchronously until it holds. */
  runSync(): HeldLock {
    this.#blocking = true;
    try {
      const first = this.#next();
      if (first) {
        // A real wait: signals must keep their meaning while the thread is blocked (the
        // watch's ppoll is as interruptible as Atomics.wait).
        const sleeper = new Sleeper(this.#attempt);
        try {
          signalsUnhandledDuring(() => {
            for (let pause: Pause | undefined = first; pause; pause = this.#next()) {
              sleeper.sleep(pause);
              answerCloseRequest(); // a worker's event loop cannot deliver it while it waits
            }
          });
        } finally {
          sleeper.close();
        }
      }
    } finally {
      this.#blocking = false;
    }
    return this.#held!;
  }

  /** Waits without blocking the event loop; settles as soon as it holds, whoever drove the last step. */
  async run(): Promise<HeldLock> {
    for (let pause = this.#next(); pause; pause = this.#next()) await sleepUntilWokenAsync(pause.seen, pause.ms);
    return this.#held!;
  }

  /** Gives the request up (its record goes); run() then rejects with `reason`. Nothing once it holds. */
  cancel(reason: unknown): void {
    if (this.done) return;
    this.#error = { error: reason };
    this.#loop.return(undefined as never);
  }
}

/** Takes a lock on `path` (a canonical path), waiting synchronously while others conflict. */
export function acquireSync(path: string, mode: LockMode, options?: AcquisitionOptions): HeldLock {
  return new Acquisition(path, mode, options).runSync();
}

/** Takes a lock on `path`, waiting without blocking the event loop. */
export function acquire(path: string, mode: LockMode, options?: AcquisitionOptions): Promise<HeldLock> {
  return new Acquisition(path, mode, options).run();
}
