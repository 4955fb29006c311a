// The format of a record, both ways: a record is one small file per holder and per waiter
// in a lock folder. Its name says who asked for what and when, so that one readdir shows
// everyone; its one byte of content says where it stands. Nothing here touches the disk.

import type { HolderInfo } from "../errors.js";
import type { Identity } from "./liveness.js";
import type { LockMode } from "./modes.js";

export interface LockRecord extends Identity {
  /** The lock folder the record is in. */
  dir: string;
  name: string;
  /** The mode asked for: the strongest this record will ever hold. */
  mode: LockMode;
  /** Microseconds since the epoch when the request began: the order of waiters. */
  since: number;
  seq: number;
  /** The uid that owns the record file, once it has been read. */
  uid?: number;
}

/**
 * Where a record stands: waiting (about to look, and maybe take the lock), deferring
 * (standing back between looks), the mode it holds, or free (idle, kept for its thread's
 * next open).
 */
export type RecordState = LockMode | "waiting" | "deferring" | "free";

// The one table of the on-disk encoding: the state byte, and (for modes) the name's first
// letter. A record is created empty, which reads as waiting.
const CODE: Record<RecordState, string> = {
  waiting: ".",
  deferring: "-",
  free: "0",
  shared: "s",
  "swmr-read": "r",
  exclusive: "x",
  "swmr-write": "w",
};
const STATE_OF_CODE = new Map<string, RecordState>([["", "waiting"], ...Object.entries(CODE).map(([s, c]) => [c, s as RecordState] as const)]);
const MODE_OF_CODE = new Map<string, LockMode>(
  [...STATE_OF_CODE].filter((e): e is [string, LockMode] => e[1] !== "waiting" && e[1] !== "deferring" && e[1] !== "free"),
);

/** The byte that says `state`, ready to write (one buffer per state: no encoding per open). */
export const STATE_BYTES = Object.fromEntries(Object.entries(CODE).map(([s, c]) => [s, Buffer.from(c, "latin1")])) as Record<RecordState, Buffer>;

/** The state a record's content says; undefined for content this format never writes. */
export function stateOfContent(text: string): RecordState | undefined {
  return STATE_OF_CODE.get(text);
}

/** The mode a record asks for, from its name alone (undefined: not a record). */
export function modeOfName(name: string): LockMode | undefined {
  return MODE_OF_CODE.get(name[0] ?? "");
}

const SEP = ",";
let counter = 0;

/** Wall-clock microseconds, finer than Date.now() so that waiters order well. */
export function nowMicros(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/** The part of a record's name that says who made it (after the mode letter and separator). */
export function identityPart(id: Identity): string {
  return processPart(id) + [id.tid, id.tidStart, id.threadId, ""].join(SEP);
}

/** The start of identityPart that names the process (any of its threads). */
export function processPart(id: Identity): string {
  return [encodeURIComponent(id.host), id.boot, id.pidns, id.pid, id.pidStart, ""].join(SEP);
}

/** A new record name for a request by `who` (its identityPart) for `mode`, begun at `since`. */
export function recordName(who: string, mode: LockMode, since: number): string {
  return `${CODE[mode]}${SEP}${who}${since}${SEP}${++counter}`;
}

const DIGITS = /^\d{1,20}$/;
const WORD = /^[0-9a-z]{1,40}$/;

/** The record a name describes; undefined for any name this format does not make. Never throws. */
export function parseRecord(name: string, dir = ""): LockRecord | undefined {
  const f = name.split(SEP);
  const mode = modeOfName(name);
  if (f.length !== 11 || !mode || f[0].length !== 1) return undefined;
  const [, hostField, boot, pidns, pid, pidStart, tid, tidStart, threadId, since, seq] = f;
  // Every field as this format writes it: numbers that are numbers, ids that are short words.
  if (![pid, pidStart, tid, tidStart, threadId, since, seq].every((x) => DIGITS.test(x)) || !WORD.test(boot) || !WORD.test(pidns)) return undefined;
  let host: string;
  try {
    host = decodeURIComponent(hostField);
  } catch {
    return undefined;
  }
  if (host === "" || host.length > 255) return undefined;
  const r = {
    dir,
    name,
    mode,
    host,
    boot,
    pidns,
    pid: Number(pid),
    pidStart,
    tid: Number(tid),
    tidStart,
    threadId: Number(threadId),
    since: Number(since),
    seq: Number(seq),
  };
  return Number.isSafeInteger(r.pid) && Number.isSafeInteger(r.tid) && Number.isSafeInteger(r.since) && Number.isSafeInteger(r.seq) ? r : undefined;
}

/** Whether `a` asked before `b` (ties, which need the same microsecond, broken by name). */
export function earlier(a: LockRecord, b: LockRecord): boolean {
  return a.since !== b.since ? a.since < b.since : a.name < b.name;
}

export function toHolderInfo(r: LockRecord, lock: LockMode, alive: boolean): HolderInfo {
  return {
    lock,
    host: r.host,
    pid: r.pid,
    tid: r.tid,
    threadId: r.threadId,
    since: Math.floor(r.since / 1000),
    alive,
  };
}
