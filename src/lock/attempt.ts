// One request for a lock, step by step: it gathers snapshots of the records, asks the
// protocol (protocol.ts) for a verdict and acts on it. It neither sleeps nor keeps time:
// wait.ts drives it.

import { debug } from "../debug.js";
import { closeRecord, createRecord, inHostFolder, listNames, listRecords, lockDirsFor, makeFallbackRoot, makeLockDir, mark, readRecordFile, readState, removeIfEmpty, removeRecord, touchRecord } from "./folders.js";
import { H5TSError, type HolderInfo } from "../errors.js";
import { HeldLock } from "./held-lock.js";
import { discard, takeIdle, type OwnRecord } from "./idle.js";
import { identity, isAlive } from "./liveness.js";
import { found, prepare, unchanged } from "./unchanged.js";
import type { LockMode } from "./modes.js";
import type { LockOptions } from "./options.js";
import type { FileIdentity } from "./path.js";
import { decide, mayMatter, stillAhead, type Blocker, type Request, type Seen, type Verdict } from "./protocol.js";
import { identityPart, nowMicros, parseRecord, recordName, toHolderInfo, type LockRecord, type RecordState } from "./record.js";
import { wakeAll } from "./wake.js";

const PERMISSION = new Set(["EACCES", "EPERM", "EROFS"]);
const NO_SPACE = new Set(["ENOSPC", "EDQUOT"]);
/** A path near PATH_MAX: the folder beside the file, or a record in it, is a longer one. */
const TOO_LONG = new Set(["ENAMETOOLONG"]);

/** Whether the error, or the system error behind it (an ENOLOCKDIR's cause), has one of `codes`. */
function hasCode(e: unknown, codes: ReadonlySet<string>): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  const cause = (e as { cause?: NodeJS.ErrnoException }).cause?.code;
  return codes.has(code ?? "") || codes.has(cause ?? "");
}

let ownIdentity: string | undefined;
/** The part of this thread's record names that says who made them. */
function me(): string {
  return (ownIdentity ??= identityPart(identity()));
}

/** A verdict, whether the request's own record was missing from the listing, and how many records that may matter it saw. */
type Look = Verdict & { ownGone: boolean; seen: number };

/** Liveness is looked up again at most this often per record while waiting. */
const ALIVE_TTL_MS = 50;

export class Attempt {
  readonly path: string;
  readonly mode: LockMode;
  readonly options: LockOptions;
  /** Every folder that may hold records of this file. */
  readonly #dirs: readonly string[];
  readonly #fallback: string | undefined;
  /** The request's record (its folder: the first of #dirs it may write); made at the first step. */
  #record: OwnRecord | undefined;
  /** What the record shows now. */
  #shows: RecordState = "deferring";
  /** The conflicting records in the way at the last look. */
  #blockers: Blocker[] = [];
  /** While standing back: the earlier waiters it stands back for. */
  #behind: LockRecord[] = [];
  #aliveAt = new Map<string, number>();
  #touchedAt = 0;
  /** Names of records that cannot matter to this request (skipped without being read). */
  readonly #matters = (name: string) => mayMatter(name, this.mode, me());
  readonly #skip = (name: string) => !this.#matters(name);
  /** When the request began (µs): its place among waiters. */
  readonly since: number;

  /** `id`: the file's identity where it exists (a file with several names is locked by its inode). */
  constructor(path: string, mode: LockMode, options: LockOptions, since = nowMicros(), id?: FileIdentity) {
    this.path = path;
    this.mode = mode;
    this.options = options;
    this.since = since;
    const { fallback, all } = lockDirsFor(path, options.lockDir, id);
    this.#dirs = all;
    this.#fallback = fallback;
  }

  /** Every folder that may hold records of this file. */
  get folders(): readonly string[] {
    return this.#dirs;
  }

  /** The name of its record, once made. */
  get recordName(): string | undefined {
    return this.#record?.name;
  }

  /** Whether someone in the way, as of the last look, is on another host. */
  get blockedFromAfar(): boolean {
    return this.#blockers.some((b) => b.record.host !== identity().host);
  }

  /** Whether someone in the way, as of the last look, is another process (here or afar). */
  get blockedByOthers(): boolean {
    const me = identity();
    return this.#blockers.some((b) => b.record.host !== me.host || b.record.pid !== me.pid);
  }

  /** Whether the record named `name` was in the way at the last look: only a change to one of those can let this request in. */
  blockedBy(name: string): boolean {
    return this.#blockers.some((b) => b.record.name === name);
  }

  /** Who is in the way, as of the last look. */
  holders(): HolderInfo[] {
    return this.#blockers.map((b) => toHolderInfo(b.record, b.mode, true));
  }

  /** Whether it stands behind earlier waiters (then it need not poll fast). */
  get standingBack(): boolean {
    return this.#behind.length > 0;
  }

  /**
   * The fast path, tried first: this thread's idle record for the file, marked as holding
   * before it looks (so that others see it). Anyone in the way, and it is given up: a
   * wait needs a record that says when it began.
   */
  tryIdle(): HeldLock | undefined {
    const idle = takeIdle(this.path, this.mode);
    if (!idle) return undefined;
    let v: Look | undefined;
    try {
      try {
        mark(idle, this.mode);
      } catch {
        // Gone or replaced meanwhile (one written through its path, held-lock.ts), or the
        // disk refused: not reused (discarded below); the open makes a record anew.
        return undefined;
      }
      if (unchanged(idle, this.#dirs)) {
        // Nothing that could stand in its way has changed since its last look found none (unchanged.ts).
        v = { action: "take", blockers: [], reap: [], ownGone: false, seen: 0 };
        this.#blockers = [];
      } else {
        prepare(idle, this.#dirs, this.#matters);
        v = this.#look(idle, this.mode);
        found(idle, v.action === "take" && !v.ownGone && v.seen === 0);
      }
    } finally {
      if (v?.action !== "take" || v.ownGone) {
        discard(idle, false); // also when the look threw: never leave it marked as holding
        wakeAll(); // its tentative mark may have held someone back
      }
    }
    if (v.action === "take" && !v.ownGone) {
      if (debug.enabled) debug("acquire %s %s (reused record)", this.path, this.mode);
      return new HeldLock(this.path, idle, this.options.remoteStaleMs);
    }
    return undefined;
  }

  /**
   * One step: takes the lock if nothing alive stands in the way; undefined otherwise.
   * Between looks the record stands back ("deferring"): requests that came before it may
   * then pass it, and a thread taking its idle record again may pass it while its wait is
   * young (bounded barging). Only for a look that may take does it show "waiting", so
   * that nobody passes it while it might take the lock.
   */
  step(): HeldLock | undefined {
    if (!this.#record) this.#record = this.#create(); // shows "deferring": nobody is held up by a request that has not looked yet
    else if (this.#behind.length && this.#stillBehind()) return undefined; // a readdir instead of marks and reads
    else this.#show("waiting");
    const record = this.#record;
    for (;;) {
      const v = this.#look(record, this.#shows);
      if (v.ownGone) {
        // Removed from under it: start again with a new record (its place in line is lost).
        discard(record, false);
        this.#record = undefined;
        this.#behind = [];
        return undefined;
      }
      switch (v.action) {
        case "look":
          this.#show("waiting");
          continue;
        case "take": {
          this.#show(this.mode);
          this.#record = undefined; // the lock owns it now
          return new HeldLock(this.path, record, this.options.remoteStaleMs);
        }
        case "stand-back":
        case "wait": {
          const wasLooking = this.#shows === "waiting";
          this.#show("deferring");
          // Earlier waiters that looked while this one showed "waiting" may go now.
          if (wasLooking && v.action === "stand-back") wakeAll();
          this.#behind = v.blockers.filter((b) => b.earlierWaiter).map((b) => b.record);
          this.#keepFresh();
          return undefined;
        }
      }
    }
  }

  /** Gives up: removes the record (and the folder, if it was the last). Safe to call twice. */
  abandon(): void {
    if (this.#record) discard(this.#record);
    this.#record = undefined;
    wakeAll();
  }

  /** Lists the records that may matter, asks the protocol, reaps the dead. */
  #look(own: LockRecord, shows: RecordState): Look {
    const snapshot: Seen[] = [];
    let ownSeen = false;
    const skipHere = (name: string) => {
      if (name === own.name) ownSeen = true;
      return this.#skip(name);
    };
    const aliveOf = (r: LockRecord) => this.#alive(r);
    for (const dir of this.#dirs) {
      // Records are made in the first folder where they can be: the others are often empty and gone.
      const oftenMissing = dir !== this.#dirs[0] && dir !== own.dir;
      const hostOnly = inHostFolder(dir);
      for (const record of listRecords(dir, dir === own.dir ? skipHere : this.#skip, oftenMissing)) {
        // The fallback folder is this host's: a record there that claims another host is forged.
        if (hostOnly && record.host !== identity().host) continue;
        const file = readRecordFile(record);
        const state = file?.state;
        record.uid = file?.uid;
        let alive: boolean | undefined;
        snapshot.push({
          record,
          state,
          get alive() {
            return (alive ??= aliveOf(record)); // a /proc read: only where the verdict needs it
          },
        });
      }
    }
    const v = decide({ own, shows, now: nowMicros() } satisfies Request, snapshot);
    for (const r of v.reap) {
      if (removeRecord(r.dir, r.name)) debug("reap %s %s pid %d tid %d", this.path, r.mode, r.pid, r.tid);
    }
    // A folder that the reaped emptied and that we do not use would stay for good.
    for (const dir of new Set(v.reap.map((r) => r.dir))) if (dir !== own.dir) removeIfEmpty(dir);
    if (v.blockers.length && debug.enabled && this.#blockers.length === 0) {
      debug("wait %s %s behind %s", this.path, this.mode, v.blockers.map((b) => `${b.mode}:${b.record.pid}/${b.record.tid}`).join(" "));
    }
    this.#blockers = v.blockers;
    // Its own record removed from under it (h5-threadsafe clear --force): it must not hold
    // by a record nobody can see.
    return { ...v, ownGone: !ownSeen, seen: snapshot.length };
  }

  // Each one must still be there, alive, and waiting or holding in a conflicting mode: a
  // record that went idle must not hold us back, and a waiter that died is not waited
  // for (the next full look removes its record).
  #stillBehind(): boolean {
    const present = new Set(this.#dirs.flatMap((d) => listNames(d)));
    return this.#behind.every((r) => present.has(r.name) && this.#alive(r) && stillAhead(this.mode, readState(r)));
  }

  #show(state: RecordState): void {
    mark(this.#record!, state);
    this.#shows = state;
  }

  /** Creates the record, in the first folder it may write (the fallback where it may not write beside the file, or the inode's folder). */
  #create(): OwnRecord {
    const name = recordName(me(), this.mode, this.since);
    for (let i = 0; ; i++) {
      const dir = this.#dirs[Math.min(i, this.#dirs.length - 1)];
      const fd = this.#createIn(dir, name);
      if (fd !== undefined) {
        const record = { ...parseRecord(name, dir)!, fd };
        this.#shows = "deferring";
        this.#touchedAt = performance.now();
        if (dir !== this.#dirs[0]) debug("fallback %s: cannot write %s, using %s", this.path, this.#dirs[0], dir);
        return record;
      }
    }
  }

  /**
   * The descriptor of a new record in `dir`, marked "deferring"; undefined where this user
   * may not write, the disk is full, or the record's path would be too long (PATH_MAX),
   * and another folder follows.
   */
  #createIn(dir: string, name: string): number | undefined {
    for (;;) {
      try {
        const fd = createRecord(dir, name);
        try {
          mark({ dir, name, fd }, "deferring"); // its first byte: where the disk is full, this is what fails
        } catch (e) {
          closeRecord({ dir, name, fd });
          removeRecord(dir, name);
          removeIfEmpty(dir); // a folder made just now stays empty otherwise
          throw e;
        }
        return fd;
      } catch (e) {
        try {
          const code = (e as NodeJS.ErrnoException).code;
          if (code !== "ENOENT" && code !== "ENOTDIR") throw e; // ENOTDIR: a file where a folder of the path should be
          makeLockDir(dir); // first user, or the last one removed it meanwhile
        } catch (e2) {
          const full = hasCode(e2, NO_SPACE);
          const tooLong = hasCode(e2, TOO_LONG);
          const next = this.#dirs[this.#dirs.indexOf(dir) + 1];
          if ((!hasCode(e2, PERMISSION) && !full && !tooLong) || next === undefined) {
            if (full) throw new H5TSError("ENOLOCKDIR", `cannot write a lock record in ${dir}: no space left`, { cause: e2 });
            if (tooLong) throw new H5TSError("ENOLOCKDIR", `cannot write a lock record in ${dir}: its path is too long`, { cause: e2 });
            throw e2;
          }
          if (next === this.#fallback) makeFallbackRoot();
          return undefined;
        }
      }
    }
  }

  #keepFresh(): void {
    const now = performance.now();
    if (this.#record && now - this.#touchedAt > this.options.remoteStaleMs / 4) {
      touchRecord(this.#record.dir, this.#record.name);
      this.#touchedAt = now;
    }
  }

  #alive(r: LockRecord): boolean {
    const now = performance.now();
    const at = this.#aliveAt.get(r.name);
    if (at !== undefined && now - at < ALIVE_TTL_MS) return true;
    const alive = isAlive(r, this.options.remoteStaleMs);
    if (alive) this.#aliveAt.set(r.name, now);
    return alive;
  }
}
