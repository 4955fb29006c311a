// The readers–writer lock of one file, across threads, processes and hosts. It knows
// paths, modes and holders, nothing of HDF5.
//
// Taking a lock: list the records; when nothing alive conflicts (no holder, and no
// earlier waiter, since a waiting writer goes before readers that come after it), take
// the short mutex, list again and add a holder record. Otherwise add a waiter record and
// poll. Releasing is removing one's own record: that can only let others in, so it needs
// no mutex; the folder goes away with its last record.

import { realpathSync, rmdirSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { settings, type Options } from "./config.js";
import { debug } from "./debug.js";
import { LockTimeoutError, describeHolder, type HolderInfo } from "./errors.js";
import { compatible, relaxes, type LockMode } from "./modes.js";
import { makeFallbackRoot, makeLockDir, withMutex } from "./mutex.js";
import {
  createRecord,
  isAlive,
  isOwn,
  listRecords,
  lockDirsFor,
  nowMicros,
  recordName,
  removeRecord,
  renameRecord,
  toHolderInfo,
  touchRecord,
  withMode,
  type LockRecord,
} from "./records.js";
import { sleep, sleepSync } from "./sleep.js";

export type LockOptions = Pick<Options, "timeoutMs" | "warnAfterMs" | "remoteStaleMs" | "lockDir">;

/**
 * The path that names a file's lock: symlinks and relative paths resolved. A file that
 * does not exist yet is named by its resolved folder.
 */
export function canonicalPath(path: string): string {
  try {
    return realpathSync.native(path);
  } catch {
    try {
      return join(realpathSync.native(dirname(resolve(path))), basename(path));
    } catch {
      return resolve(path);
    }
  }
}

// Records this thread must keep fresh for holders on other hosts to see it alive.
const fresh = new Map<string, { dir: string; name: string }>();
let heartbeat: NodeJS.Timeout | undefined;

function keepFresh(key: string, dir: string, name: string | undefined, remoteStaleMs: number): void {
  if (name === undefined) fresh.delete(key);
  else fresh.set(key, { dir, name });
  if (fresh.size && !heartbeat && Number.isFinite(remoteStaleMs)) {
    heartbeat = setInterval(beat, Math.max(remoteStaleMs / 4, 10)).unref();
  } else if (!fresh.size && heartbeat) {
    clearInterval(heartbeat);
    heartbeat = undefined;
  }
}

function beat(): void {
  for (const { dir, name } of fresh.values()) touchRecord(dir, name);
}

let lockIds = 0;

/** A lock this thread holds. */
export class HeldLock {
  readonly path: string;
  readonly dir: string;
  #name: string;
  #mode: LockMode;
  #released = false;
  readonly #id = `h${++lockIds}`;
  readonly #remoteStaleMs: number;

  constructor(path: string, dir: string, name: string, mode: LockMode, remoteStaleMs: number) {
    this.path = path;
    this.dir = dir;
    this.#name = name;
    this.#mode = mode;
    this.#remoteStaleMs = remoteStaleMs;
    keepFresh(this.#id, dir, name, remoteStaleMs);
  }

  get mode(): LockMode {
    return this.#mode;
  }

  get released(): boolean {
    return this.#released;
  }

  /** Changes the mode to one that lets more others in (never fewer: that would need to wait). */
  relaxTo(mode: LockMode): void {
    if (this.#released || mode === this.#mode) return;
    if (!relaxes(this.#mode, mode)) throw new Error(`cannot change a ${this.#mode} lock to ${mode} without waiting`);
    const name = withMode(this.#name, mode);
    // Under the mutex: a readdir running during a rename may see neither name, and a
    // writer taking the mutex must not miss this holder.
    withMutex(this.dir, () => renameRecord(this.dir, this.#name, name));
    debug("relax %s %s -> %s", this.path, this.#mode, mode);
    this.#name = name;
    this.#mode = mode;
    keepFresh(this.#id, this.dir, name, this.#remoteStaleMs);
  }

  /** Lets the lock go. Safe to call twice. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    keepFresh(this.#id, this.dir, undefined, this.#remoteStaleMs);
    removeRecord(this.dir, this.#name);
    removeDirIfEmpty(this.dir);
    debug("release %s %s", this.path, this.#mode);
  }
}

function removeDirIfEmpty(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // Not empty (others hold or wait) or already gone: both fine.
  }
}

const PERMISSION = new Set(["EACCES", "EPERM", "EROFS"]);

function isPermissionError(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  const cause = (e as { cause?: NodeJS.ErrnoException }).cause?.code;
  return PERMISSION.has(code ?? "") || PERMISSION.has(cause ?? "");
}

/** One attempt to take a lock, step by step, shared by the sync and async waits. */
class Attempt {
  readonly path: string;
  readonly mode: LockMode;
  readonly options: LockOptions;
  readonly started = performance.now();
  /** Every folder that may hold records of this file. */
  readonly #dirs: string[];
  readonly #fallback: string | undefined;
  /** Where this attempt puts its own records: the first of #dirs it may write. */
  #home: string;
  #waiter: { name: string; since: number } | undefined;
  #blockers: LockRecord[] = [];
  #aliveAt = new Map<string, number>();
  #warned = false;
  #delay = 0.05;
  #touchedAt = 0;

  constructor(path: string, mode: LockMode, options: LockOptions) {
    this.path = path;
    this.mode = mode;
    this.options = options;
    const { primary, fallback } = lockDirsFor(path, options.lockDir);
    this.#dirs = fallback ? [primary, fallback] : [primary];
    this.#fallback = fallback;
    this.#home = primary;
  }

  /** Runs a write into the home folder; moves home to the fallback folder where it may not write. */
  #writing<T>(fn: (home: string) => T): T {
    for (;;) {
      try {
        return fn(this.#home);
      } catch (e) {
        if (!isPermissionError(e) || !this.#fallback || this.#home === this.#fallback) throw e;
        debug("fallback %s: cannot write %s (%s), using %s", this.path, this.#home, (e as Error).message, this.#fallback);
        this.#home = this.#fallback;
        makeFallbackRoot();
      }
    }
  }

  /** Takes the lock if nothing alive stands in the way; undefined otherwise. */
  step(): HeldLock | undefined {
    if (this.#findBlockers(this.#dirs).length === 0) {
      const held = this.#writing((home) =>
        withMutex(home, () => {
          if (this.#findBlockers(this.#dirs).length) return undefined;
          const name = recordName("h", this.mode, nowMicros());
          createRecord(home, name);
          // Folders other than home are not under this mutex: a holder that was added
          // there meanwhile and did not see this record sees it now, and one of the two
          // steps back (both may, and then both try again).
          const others = this.#dirs.filter((d) => d !== home);
          if (others.length && this.#findBlockers(others, "h").length) {
            removeRecord(home, name);
            this.#delay = Math.max(this.#delay, Math.random() * 2);
            return undefined;
          }
          return new HeldLock(this.path, home, name, this.mode, this.options.remoteStaleMs);
        }),
      );
      if (held) {
        this.#dropWaiter();
        debug("acquire %s %s after %d ms", this.path, this.mode, Math.round(performance.now() - this.started));
        return held;
      }
    }
    this.#registerWaiter();
    this.#checkTime();
    return undefined;
  }

  /** The next pause between polls: short at first for fast hand-off, then backing off. */
  nextDelay(): number {
    const d = this.#delay;
    this.#delay = Math.min(this.#delay * 2, 2);
    return d;
  }

  abandon(): void {
    this.#dropWaiter();
    removeDirIfEmpty(this.#home);
  }

  #findBlockers(dirs: string[], only?: "h"): LockRecord[] {
    const out: LockRecord[] = [];
    const mine = this.#waiter?.since;
    for (const dir of dirs) {
      for (const r of listRecords(dir)) {
        if (isOwn(r) || (only && r.kind !== only)) continue;
        const conflicts = !compatible(r.mode, this.mode);
        // A holder in the way, or a waiter that came first and wants something we'd spoil.
        if (!conflicts || (r.kind === "w" && mine !== undefined && r.since >= mine)) continue;
        if (this.#alive(r)) out.push(r);
        else if (removeRecord(r.dir, r.name)) debug("reap %s %s %s pid %d tid %d", this.path, r.kind, r.mode, r.pid, r.tid);
      }
    }
    if (!only) this.#blockers = out;
    return out;
  }

  // Liveness is checked again at most every 50 ms per record while waiting.
  #alive(r: LockRecord): boolean {
    const now = performance.now();
    const at = this.#aliveAt.get(r.name);
    if (at !== undefined && now - at < 50) return true;
    const alive = isAlive(r, this.options.remoteStaleMs);
    if (alive) this.#aliveAt.set(r.name, now);
    return alive;
  }

  #registerWaiter(): void {
    if (this.#waiter) {
      const now = performance.now();
      if (now - this.#touchedAt > this.options.remoteStaleMs / 4) {
        touchRecord(this.#home, this.#waiter.name);
        this.#touchedAt = now;
      }
      return;
    }
    const since = nowMicros();
    const name = recordName("w", this.mode, since);
    this.#writing((home) => {
      for (;;) {
        try {
          return createRecord(home, name);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
          makeLockDir(home); // the last holder removed the folder meanwhile
        }
      }
    });
    this.#waiter = { name, since };
    this.#touchedAt = performance.now();
    debug("wait %s %s behind %o", this.path, this.mode, this.#blockers.map((b) => `${b.kind}${b.mode}:${b.pid}/${b.tid}`));
  }

  #dropWaiter(): void {
    if (this.#waiter) removeRecord(this.#home, this.#waiter.name);
    this.#waiter = undefined;
  }

  holders(): HolderInfo[] {
    return this.#blockers.map((r) => toHolderInfo(r, true));
  }

  #checkTime(): void {
    const waited = performance.now() - this.started;
    if (waited >= this.options.timeoutMs) {
      this.abandon();
      debug("timeout %s %s after %d ms", this.path, this.mode, Math.round(waited));
      throw new LockTimeoutError(this.path, this.mode, this.holders(), waited);
    }
    if (!this.#warned && waited >= this.options.warnAfterMs) {
      this.#warned = true;
      const list = this.holders().map(describeHolder).join("; ");
      const warning = Object.assign(
        new Error(`waiting ${Math.round(waited / 1000)} s for a ${this.mode} lock on ${this.path}: held ${list}`),
        { name: "H5ThreadsafeWarning", code: "H5TS_LONG_WAIT" },
      );
      // Emitted at once: a synchronous wait keeps process.emitWarning's tick from coming.
      process.emit("warning", warning);
    }
  }
}

function lockOptions(options?: Partial<LockOptions>): LockOptions {
  const s = settings();
  return {
    timeoutMs: options?.timeoutMs ?? s.timeoutMs,
    warnAfterMs: options?.warnAfterMs ?? s.warnAfterMs,
    remoteStaleMs: options?.remoteStaleMs ?? s.remoteStaleMs,
    lockDir: options && "lockDir" in options ? options.lockDir : s.lockDir,
  };
}

/** Takes a lock on `path` (a canonical path), waiting synchronously while others conflict. */
export function acquireSync(path: string, mode: LockMode, options?: Partial<LockOptions>): HeldLock {
  const attempt = new Attempt(path, mode, lockOptions(options));
  try {
    for (;;) {
      const held = attempt.step();
      if (held) return held;
      sleepSync(attempt.nextDelay());
    }
  } catch (e) {
    attempt.abandon();
    throw e;
  }
}

/** Takes a lock on `path`, waiting without blocking the event loop. */
export async function acquire(path: string, mode: LockMode, options?: Partial<LockOptions>): Promise<HeldLock> {
  const attempt = new Attempt(path, mode, lockOptions(options));
  try {
    for (;;) {
      const held = attempt.step();
      if (held) return held;
      await sleep(attempt.nextDelay());
    }
  } catch (e) {
    attempt.abandon();
    throw e;
  }
}

export interface LockState {
  path: string;
  /** The folders its records may be in: beside the file, and this host's fallback. */
  dirs: string[];
  holders: HolderInfo[];
  waiters: HolderInfo[];
}

function recordsOf(path: string, options?: Partial<LockOptions>): { canonical: string; dirs: string[]; records: LockRecord[]; o: LockOptions } {
  const canonical = canonicalPath(path);
  const o = lockOptions(options);
  const { primary, fallback } = lockDirsFor(canonical, o.lockDir);
  const dirs = fallback ? [primary, fallback] : [primary];
  return { canonical, dirs, records: dirs.flatMap((d) => listRecords(d)), o };
}

/** Who holds and who waits for `path`'s lock, as recorded; gone ones are marked, not removed. */
export function inspect(path: string, options?: Partial<LockOptions>): LockState {
  const { canonical, dirs, records, o } = recordsOf(path, options);
  const state: LockState = { path: canonical, dirs, holders: [], waiters: [] };
  for (const r of records) {
    const info = toHolderInfo(r, isAlive(r, o.remoteStaleMs));
    (r.kind === "h" ? state.holders : state.waiters).push(info);
  }
  return state;
}

/**
 * Removes the records of holders and waiters that are gone (with `alsoLive`, all of them:
 * for holders known to be stuck); returns how many.
 */
export function clearGone(path: string, options?: Partial<LockOptions>, alsoLive = false): number {
  const { dirs, records, o } = recordsOf(path, options);
  let n = 0;
  for (const r of records) {
    if ((alsoLive || !isAlive(r, o.remoteStaleMs)) && removeRecord(r.dir, r.name)) n++;
  }
  for (const d of dirs) removeDirIfEmpty(d);
  return n;
}
