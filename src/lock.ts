// The readers–writer lock of one file, across threads, processes and hosts. It knows
// paths, modes and holders, nothing of HDF5.
//
// The protocol needs no mutex. Every request first creates its record (waiting), then
// lists all records, and takes the lock, by writing its mode into its record, only when
// no other record that conflicts with it stands in the way. Two conflicting requests can
// therefore never both take it: the one that created its record second lists after the
// first record exists, and sees it. Among the records that conflict with a request:
// - one that holds is in the way;
// - one that waits and asked earlier is in the way, and the request marks itself as
//   standing back (so a waiting writer goes before readers that come after it);
// - one that waits and asked later is in the way too (it may have listed before our
//   record existed, and be about to hold), unless it stands back: then it will look
//   again before it takes anything. A request that stood back marks itself waiting again
//   before each new look, so that nobody ignores it while it might take the lock.
// Releasing is removing one's own record. Records of holders that are gone are removed
// by whoever meets them.

import { realpathSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { settings, type Options } from "./config.js";
import { debug } from "./debug.js";
import { LockTimeoutError, describeHolder, type HolderInfo } from "./errors.js";
import { makeFallbackRoot, makeLockDir, removeIfEmpty } from "./folders.js";
import { discard, putIdle, takeIdle, type OwnRecord } from "./idle-records.js";
import { MODE_BY_CODE, compatible, relaxes, type LockMode } from "./modes.js";
import {
  createRecord,
  earlier,
  isAlive,
  listNames,
  listRecords,
  ownNamePart,
  lockDirsFor,
  mark,
  nowMicros,
  recordName,
  recordState,
  removeRecord,
  toHolderInfo,
  touchRecord,
  parseRecord,
  type LockRecord,
} from "./records.js";
import { sleep } from "./sleep.js";
import { generation, sleepUntilWoken, wakeAll } from "./wake.js";

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

// Records this thread must keep fresh for holders on other hosts to see it alive. The
// timer stays while the thread holds anything, and stops at a beat that finds nothing.
const fresh = new Set<OwnRecord>();
let heartbeat: NodeJS.Timeout | undefined;

function keepFresh(record: OwnRecord, remoteStaleMs: number): void {
  fresh.add(record);
  if (!heartbeat && Number.isFinite(remoteStaleMs)) heartbeat = setInterval(beat, Math.max(remoteStaleMs / 4, 10)).unref();
}

function beat(): void {
  for (const r of fresh) touchRecord(r.dir, r.name);
  if (fresh.size === 0 && heartbeat) {
    clearInterval(heartbeat);
    heartbeat = undefined;
  }
}

/** A lock this thread holds. */
export class HeldLock {
  readonly path: string;
  readonly #record: OwnRecord;
  #mode: LockMode;
  #released = false;

  constructor(path: string, record: OwnRecord, remoteStaleMs: number) {
    this.path = path;
    this.#record = record;
    this.#mode = record.mode;
    keepFresh(record, remoteStaleMs);
  }

  get mode(): LockMode {
    return this.#mode;
  }

  /** Changes the mode to one that lets more others in (never fewer: that would need to wait). */
  relaxTo(mode: LockMode): void {
    if (this.#released || mode === this.#mode) return;
    if (!relaxes(this.#mode, mode)) throw new Error(`cannot change a ${this.#mode} lock to ${mode} without waiting`);
    mark(this.#record.dir, this.#record.name, mode, this.#record.fd);
    debug("relax %s %s -> %s", this.path, this.#mode, mode);
    this.#mode = mode;
    wakeAll();
  }

  /**
   * Lets the lock go. Safe to call twice. The record is kept a moment for this thread's
   * next open of the file, or removed at once with `now` (an open that failed: leave
   * nothing behind).
   */
  release(now = false): void {
    if (this.#released) return;
    this.#released = true;
    fresh.delete(this.#record);
    if (now) discard(this.#record);
    else putIdle(this.path, this.#record);
    wakeAll();
    if (debug.enabled) debug("release %s %s", this.path, this.#mode);
  }
}

/** How long a waiter may be passed by a thread taking its idle record again (µs). */
const BARGE_US = 20_000;

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
  readonly #dirs: readonly string[];
  readonly #fallback: string | undefined;
  /** Where this attempt puts its record: the first of #dirs it may write. */
  #home: string;
  /** Made at the first step: the fast path does not need one. */
  #record!: LockRecord;
  /** Descriptor of the record while it exists. */
  #fd: number | undefined;
  /** While standing back: the earlier waiters it stands back for. */
  #behind: LockRecord[] = [];
  #blockers: (LockRecord & { earlierWaiter: boolean })[] = [];
  #aliveAt = new Map<string, number>();
  #warned = false;
  #delay = 0.05;
  #touchedAt = 0;

  constructor(path: string, mode: LockMode, options: LockOptions) {
    this.path = path;
    this.mode = mode;
    this.options = options;
    const { primary, fallback, all } = lockDirsFor(path, options.lockDir);
    this.#dirs = all;
    this.#fallback = fallback;
    this.#home = primary;
  }

  /**
   * The fast path, tried first: this thread's idle record for the file, marked as holding
   * before it looks (so that others see it). Anyone in the way, and it is given up: a
   * wait needs a record that says when it began.
   */
  tryIdle(): HeldLock | undefined {
    const idle = takeIdle(this.path, this.mode);
    if (!idle) return undefined;
    mark(idle.dir, idle.name, this.mode, idle.fd);
    // The idle record's place in line is old: it must not pass anyone who waits.
    if (this.#findBlockers(idle, this.#dirs, true).length === 0) {
      if (debug.enabled) debug("acquire %s %s (reused record)", this.path, this.mode);
      return new HeldLock(this.path, idle, this.options.remoteStaleMs);
    }
    discard(idle, false);
    wakeAll(); // its tentative mark may have held someone back
    return undefined;
  }

  /**
   * Takes the lock if nothing alive stands in the way; undefined otherwise. Between
   * looks a waiting record stands back ("deferring"): requests that came before it may
   * then pass it, and a thread taking its idle record again may pass it while its wait is
   * young (bounded barging: a writer's next append without a hand-off). Only for a look
   * does it mark itself waiting, so that nobody passes it while it might take the lock.
   */
  step(): HeldLock | undefined {
    let fresh = false;
    if (this.#fd === undefined) {
      this.#record ??= parseRecord(recordName(this.mode, nowMicros()), this.#home)!;
      this.#create(); // created standing back: nobody is held up by a request that has not looked yet
      fresh = true;
    } else if (this.#behind.length && this.#stillBehind()) {
      // Still behind the same earlier waiters (whatever they do now, they come first):
      // a readdir instead of marks and reads, when woken often.
      this.#checkTime();
      return undefined;
    }
    if (!fresh || this.#findBlockers(this.#record, this.#dirs).every((b) => !b.earlierWaiter)) {
      this.#mark("waiting"); // about to look, and maybe take it
      const blockers = this.#findBlockers(this.#record, this.#dirs);
      if (blockers.length === 0) {
        this.#mark(this.mode);
        if (debug.enabled) debug("acquire %s %s after %d ms", this.path, this.mode, Math.round(performance.now() - this.started));
        const record = { ...this.#record, dir: this.#home, fd: this.#fd! };
        this.#fd = undefined; // the lock owns it now
        return new HeldLock(this.path, record, this.options.remoteStaleMs);
      }
      this.#mark("deferring");
      // Earlier waiters that looked while this one was marked waiting may go now.
      if (blockers.some((b) => b.earlierWaiter)) wakeAll();
    }
    this.#behind = this.#blockers.filter((b) => b.earlierWaiter);
    this.#keepFresh();
    this.#checkTime();
    return undefined;
  }

  // Each one must still be there, alive, and waiting or holding in a conflicting mode: a
  // record that went idle ("free", kept for its thread's next open) must not hold us
  // back, and a waiter that died is not waited for (the full look removes its record).
  #stillBehind(): boolean {
    const present = new Set(this.#dirs.flatMap((d) => listNames(d)));
    return this.#behind.every((r) => {
      if (!present.has(r.name) || !this.#alive(r)) return false;
      const state = recordState(r);
      return state === "waiting" || state === "deferring" || (state !== undefined && state !== "free" && !compatible(state, this.mode));
    });
  }

  #mark(state: "waiting" | "deferring" | LockMode): void {
    mark(this.#home, this.#record.name, state, this.#fd);
  }

  /** The next pause between polls: short at first for fast hand-off, then backing off. */
  nextDelay(): number {
    // A waiter behind others polls slowly (in this process a release wakes it at once);
    // the first in line polls fast, as the hand-off between processes depends on it.
    const d = this.#behind.length ? Math.max(this.#delay, 10) : this.#delay;
    this.#delay = Math.min(this.#delay * 2, 2);
    return d;
  }

  abandon(): void {
    if (this.#fd !== undefined) discard({ ...this.#record, dir: this.#home, fd: this.#fd });
    else removeIfEmpty(this.#home);
    this.#fd = undefined;
    wakeAll();
  }

  /** Creates the record in the home folder, moving home to the fallback where it may not write. */
  #create(): void {
    for (;;) {
      try {
        this.#fd = createRecord(this.#home, this.#record.name);
        this.#mark("deferring");
        this.#touchedAt = performance.now();
        return;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        try {
          if (code === "ENOENT") {
            makeLockDir(this.#home); // first user, or the last one removed it meanwhile
            continue;
          }
          throw e;
        } catch (e2) {
          if (!isPermissionError(e2) || !this.#fallback || this.#home === this.#fallback) throw e2;
          debug("fallback %s: cannot write %s, using %s", this.path, this.#home, this.#fallback);
          this.#home = this.#fallback;
          this.#record = { ...this.#record, dir: this.#fallback };
          makeFallbackRoot();
        }
      }
    }
  }

  #keepFresh(): void {
    const now = performance.now();
    if (now - this.#touchedAt > this.options.remoteStaleMs / 4) {
      touchRecord(this.#home, this.#record.name);
      this.#touchedAt = now;
    }
  }

  // Own thread: never waits for itself. Asked for a compatible mode: never in the way.
  readonly #skip = (name: string): boolean => {
    const mode = MODE_BY_CODE[name[0]];
    return mode === undefined || compatible(mode, this.mode) || name.startsWith(this.#ownPart, 2);
  };
  readonly #ownPart = ownNamePart();

  #findBlockers(own: LockRecord, dirs: readonly string[], reused = false): (LockRecord & { earlierWaiter: boolean })[] {
    const out: (LockRecord & { earlierWaiter: boolean })[] = [];
    for (const dir of dirs) {
      for (const r of listRecords(dir, this.#skip, dir === this.#fallback && dir !== own.dir)) {
        const state = recordState(r);
        if (state === undefined) continue; // gone meanwhile
        if (state === "free") {
          // Idle: nobody's way. One whose thread is gone (a terminated worker never swept
          // its idle records) would keep the folder forever: remove it.
          if (!this.#alive(r) && removeRecord(r.dir, r.name)) debug("reap %s idle pid %d tid %d", this.path, r.pid, r.tid);
          continue;
        }
        const waiting = state === "waiting" || state === "deferring";
        if (!waiting && compatible(state, this.mode)) continue; // relaxed since it asked
        const isEarlier = earlier(r, own);
        // Standing back and later: it looks again before it takes anything. A reused
        // record (whose place in line is old) may pass it only while its wait is young.
        if (state === "deferring" && !isEarlier && (!reused || nowMicros() - r.since < BARGE_US)) continue;
        if (!this.#alive(r)) {
          if (removeRecord(r.dir, r.name)) debug("reap %s %s pid %d tid %d", this.path, r.mode, r.pid, r.tid);
          continue;
        }
        out.push({ ...r, mode: waiting ? r.mode : state, earlierWaiter: waiting && isEarlier });
      }
    }
    this.#blockers = out;
    if (out.length && this.#delay === 0.05) {
      debug("wait %s %s behind %o", this.path, this.mode, out.map((b) => `${b.mode}:${b.pid}/${b.tid}`));
    }
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

  holders(): HolderInfo[] {
    return this.#blockers.map((r) => toHolderInfo(r, r.mode, true));
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
    const fast = attempt.tryIdle();
    if (fast) return fast;
    for (;;) {
      const seen = generation();
      const held = attempt.step();
      if (held) return held;
      sleepUntilWoken(seen, attempt.nextDelay());
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
    const fast = attempt.tryIdle();
    if (fast) return fast;
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
  const dirs = [...lockDirsFor(canonical, o.lockDir).all]; // a copy: LockState hands it out
  return { canonical, dirs, records: dirs.flatMap((d) => listRecords(d)), o };
}

/** Who holds and who waits for `path`'s lock, as recorded; gone ones are marked, not removed. */
export function inspect(path: string, options?: Partial<LockOptions>): LockState {
  const { canonical, dirs, records, o } = recordsOf(path, options);
  const state: LockState = { path: canonical, dirs, holders: [], waiters: [] };
  for (const r of records) {
    const held = recordState(r);
    if (held === undefined || held === "free") continue;
    const waiting = held === "waiting" || held === "deferring";
    const info = toHolderInfo(r, waiting ? r.mode : held, isAlive(r, o.remoteStaleMs));
    (waiting ? state.waiters : state.holders).push(info);
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
  for (const d of dirs) removeIfEmpty(d);
  return n;
}
