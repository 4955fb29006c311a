// The lock's state on disk: one folder per locked file, holding one small file (a
// record) per holder and per waiter. Who it is and what it asked for are in the record's
// name, so one readdir shows everyone; its one byte of content says where it stands:
// nothing or "." while it waits, "-" while it stands back behind an earlier waiter, the
// letter of the mode it holds once it does, and "0" when it is idle (free, kept a moment
// for reuse by its thread). A record is created once, never renamed
// (a readdir running during a rename may see neither name), and removed at the end.

import { createHash } from "node:crypto";
import { closeSync, existsSync, openSync, readFileSync, readdirSync, statSync, unlinkSync, utimesSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import type { HolderInfo } from "./errors.js";
import { aliveOnThisHost, identity, type Identity } from "./liveness.js";
import { MODE_BY_CODE, MODE_CODE, type LockMode } from "./modes.js";

export interface LockRecord extends Identity {
  /** The lock folder the record is in. */
  dir: string;
  name: string;
  /** The mode asked for: the strongest this record will ever hold. */
  mode: LockMode;
  /** Microseconds since the epoch when the request began: the order of waiters. */
  since: number;
  seq: number;
}

const SEP = ",";
let counter = 0;

/** Wall-clock microseconds, finer than Date.now() so that waiters order well. */
export function nowMicros(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

let own: string | undefined;
export function recordName(mode: LockMode, since: number): string {
  return `${MODE_CODE[mode]}${SEP}${ownNamePart()}${since}${SEP}${++counter}`;
}

export function parseRecord(name: string, dir = ""): LockRecord | undefined {
  const f = name.split(SEP);
  const mode = MODE_BY_CODE[f[0]];
  if (f.length !== 9 || !mode) return undefined;
  return {
    dir,
    name,
    mode,
    host: decodeURIComponent(f[1]),
    pid: Number(f[2]),
    pidStart: f[3],
    tid: Number(f[4]),
    tidStart: f[5],
    threadId: Number(f[6]),
    since: Number(f[7]),
    seq: Number(f[8]),
  };
}

/** Whether `a` asked before `b` (ties, which need the same microsecond, broken by name). */
export function earlier(a: LockRecord, b: LockRecord): boolean {
  return a.since !== b.since ? a.since < b.since : a.name < b.name;
}

/**
 * Where the records of a file live: beside it (so that hosts sharing a file system see
 * them), or in the configured lock folder. A user who cannot write beside the file puts
 * its records in this host's fallback folder instead, which every locker of the file on
 * this host also reads (`fallback`; none when a lock folder is configured).
 */
export interface LockDirs {
  primary: string;
  fallback?: string;
  /** Every folder that may hold records of the file: the primary, then the fallback. */
  all: readonly string[];
}

export function lockDirsFor(canonicalPath: string, lockDir: string | undefined): LockDirs {
  const key = `${lockDir ?? ""}\0${canonicalPath}`;
  let dirs = dirsCache.get(key);
  if (!dirs) {
    const primary = lockDir ? join(lockDir, hashedName(canonicalPath)) : join(dirname(canonicalPath), `.${basename(canonicalPath)}.h5ts`);
    const fallback = lockDir ? undefined : join(FALLBACK_ROOT, hashedName(canonicalPath));
    dirs = { primary, fallback, all: fallback ? [primary, fallback] : [primary] };
    if (dirsCache.size >= 1000) dirsCache.clear(); // a bound for programs that touch many files
    dirsCache.set(key, dirs);
  }
  return dirs;
}

// Per thread: the names are a pure function of the path, and hashing costs per open.
const dirsCache = new Map<string, LockDirs>();

/** This host's fallback folder: shared by all users, like /tmp itself (mode 1777). */
export const FALLBACK_ROOT = join(tmpdir(), "h5-threadsafe");

function hashedName(canonicalPath: string): string {
  const hash = createHash("sha256").update(canonicalPath).digest("hex").slice(0, 16);
  return `${hash}-${basename(canonicalPath)}.h5ts`;
}

/**
 * The records in a lock folder, without those that `skip` rules out by name (cheaper than
 * parsing). A folder that may well not exist is checked first: a readdir that throws
 * costs more than the check.
 */
export function listRecords(dir: string, skip?: (name: string) => boolean, oftenMissing = false): LockRecord[] {
  const out: LockRecord[] = [];
  for (const n of listNames(dir, oftenMissing)) {
    if (skip?.(n)) continue;
    const r = parseRecord(n, dir);
    if (r) out.push(r);
  }
  return out;
}

/** The names in a lock folder; none when it does not exist. */
export function listNames(dir: string, oftenMissing = false): string[] {
  if (oftenMissing && !existsSync(dir)) return [];
  try {
    return readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
}

/** The part of this thread's record names that says who made them (after the mode). */
export function ownNamePart(): string {
  if (own === undefined) {
    const me = identity();
    own = [encodeURIComponent(me.host), me.pid, me.pidStart, me.tid, me.tidStart, me.threadId, ""].join(SEP);
  }
  return own;
}

/** Where a record stands: the mode it holds, or waiting, or standing back, or free (idle). */
export type RecordState = LockMode | "waiting" | "deferring" | "free";

const STATE_CODE: Record<"waiting" | "deferring" | "free", string> = { waiting: ".", deferring: "-", free: "0" };

/** Creates a record (empty: waiting); returns its open descriptor, for mark(). */
export function createRecord(dir: string, name: string): number {
  return openSync(join(dir, name), "wx");
}

/** Writes where a record stands: through its descriptor if still open, else by path. */
export function mark(dir: string, name: string, state: RecordState, fd?: number): void {
  const byte = STATE_BYTES[state];
  if (fd === undefined) writeFileSync(join(dir, name), byte, { flag: "r+" });
  else writeSync(fd, byte, 0, 1, 0);
}

// One buffer per state: writing a buffer skips encoding a string on every open and close.
const STATE_BYTES = Object.fromEntries(
  [...Object.entries(STATE_CODE), ...Object.entries(MODE_CODE)].map(([state, code]) => [state, Buffer.from(code, "latin1")]),
) as Record<RecordState, Buffer>;

export function closeRecord(fd: number): void {
  closeSync(fd);
}

/** Where a record stands now; undefined once it is gone. */
export function recordState(r: LockRecord): RecordState | undefined {
  let text: string;
  try {
    text = readFileSync(join(r.dir, r.name), "latin1");
  } catch {
    return undefined;
  }
  if (text === "" || text === ".") return "waiting";
  if (text === "0") return "free";
  return text === "-" ? "deferring" : MODE_BY_CODE[text[0]];
}

/** Removes a record; false when it was already gone. */
export function removeRecord(dir: string, name: string): boolean {
  try {
    unlinkSync(join(dir, name));
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw e;
  }
}

export function touchRecord(dir: string, name: string): void {
  const now = new Date();
  try {
    utimesSync(join(dir, name), now, now);
  } catch {
    // A record that is gone has nothing to keep fresh.
  }
}

/** Whether the holder or waiter behind a record still exists. */
export function isAlive(r: LockRecord, remoteStaleMs: number): boolean {
  if (r.host !== identity().host) return heartbeatFresh(r, remoteStaleMs);
  if (!aliveOnThisHost(r)) return false;
  // Without /proc a thread cannot be looked up (only its process): a record whose
  // thread ended (a terminated worker) is then judged by its heartbeat, as remote ones are.
  return r.tidStart !== "0" || heartbeatFresh(r, remoteStaleMs);
}

function heartbeatFresh(r: LockRecord, remoteStaleMs: number): boolean {
  try {
    return Date.now() - statSync(join(r.dir, r.name)).mtimeMs < remoteStaleMs;
  } catch {
    return false;
  }
}

export function toHolderInfo(r: LockRecord, mode: LockMode, alive: boolean): HolderInfo {
  return {
    mode,
    host: r.host,
    pid: r.pid,
    tid: r.tid,
    threadId: r.threadId,
    since: Math.floor(r.since / 1000),
    alive,
  };
}
