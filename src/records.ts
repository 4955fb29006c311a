// The lock's state on disk: one folder per locked file, holding one empty file per holder
// and per waiter. Everything others need to know is in the record's name, so a single
// readdir shows the whole state, and a record is added, renamed or removed atomically.

import { createHash } from "node:crypto";
import { closeSync, openSync, readdirSync, renameSync, statSync, unlinkSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import type { HolderInfo } from "./errors.js";
import { aliveOnThisHost, identity, type Identity } from "./liveness.js";
import { MODE_BY_CODE, MODE_CODE, type LockMode } from "./modes.js";

export type RecordKind = "h" | "w"; // holder, waiter

export interface LockRecord extends Identity {
  /** The lock folder the record is in. */
  dir: string;
  kind: RecordKind;
  mode: LockMode;
  /** Microseconds since the epoch: when the lock was taken or the wait began. */
  since: number;
  name: string;
}

const SEP = ",";
let counter = 0;

/** Wall-clock microseconds, finer than Date.now() so that waiters order well. */
export function nowMicros(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

export function recordName(kind: RecordKind, mode: LockMode, since: number): string {
  const me = identity();
  return [
    kind + MODE_CODE[mode],
    encodeURIComponent(me.host),
    me.pid,
    me.pidStart,
    me.tid,
    me.tidStart,
    me.threadId,
    since,
    ++counter,
  ].join(SEP);
}

export function parseRecord(name: string, dir = ""): LockRecord | undefined {
  const f = name.split(SEP);
  if (f.length !== 9 || f[0].length !== 2) return undefined;
  const kind = f[0][0];
  const mode = MODE_BY_CODE[f[0][1]];
  if ((kind !== "h" && kind !== "w") || !mode) return undefined;
  return {
    dir,
    kind,
    mode,
    host: decodeURIComponent(f[1]),
    pid: Number(f[2]),
    pidStart: f[3],
    tid: Number(f[4]),
    tidStart: f[5],
    threadId: Number(f[6]),
    since: Number(f[7]),
    name,
  };
}

export function withMode(name: string, mode: LockMode): string {
  return name[0] + MODE_CODE[mode] + name.slice(2);
}

/**
 * Where the records of a file live: beside it (so that hosts sharing a file system see
 * them), or in the configured lock folder. A user who cannot write beside the file puts
 * records in this host's fallback folder instead, which every locker of the file on this
 * host also reads (`fallback`; none when a lock folder is configured).
 */
export function lockDirsFor(canonicalPath: string, lockDir: string | undefined): { primary: string; fallback?: string } {
  const base = basename(canonicalPath);
  if (lockDir) return { primary: join(lockDir, hashedName(canonicalPath)) };
  return { primary: join(dirname(canonicalPath), `.${base}.h5ts`), fallback: join(FALLBACK_ROOT, hashedName(canonicalPath)) };
}

/** This host's fallback folder: shared by all users, like /tmp itself (mode 1777). */
export const FALLBACK_ROOT = join(tmpdir(), "h5-threadsafe");

function hashedName(canonicalPath: string): string {
  const hash = createHash("sha256").update(canonicalPath).digest("hex").slice(0, 16);
  return `${hash}-${basename(canonicalPath)}.h5ts`;
}

export function listRecords(dir: string): LockRecord[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
  const out: LockRecord[] = [];
  for (const n of names) {
    const r = parseRecord(n, dir);
    if (r) out.push(r);
  }
  return out;
}

export function createRecord(dir: string, name: string): void {
  closeSync(openSync(join(dir, name), "wx"));
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

export function renameRecord(dir: string, from: string, to: string): void {
  renameSync(join(dir, from), join(dir, to));
}

export function touchRecord(dir: string, name: string): void {
  const now = new Date();
  try {
    utimesSync(join(dir, name), now, now);
  } catch {
    // A record that is gone has nothing to keep fresh.
  }
}

export function isOwn(r: LockRecord): boolean {
  const me = identity();
  return r.tid === me.tid && r.pid === me.pid && r.host === me.host && r.tidStart === me.tidStart;
}

/** Whether the holder or waiter behind a record still exists. */
export function isAlive(r: LockRecord, remoteStaleMs: number): boolean {
  if (r.host === identity().host) return aliveOnThisHost(r);
  try {
    return Date.now() - statSync(join(r.dir, r.name)).mtimeMs < remoteStaleMs;
  } catch {
    return false;
  }
}

export function toHolderInfo(r: LockRecord, alive: boolean): HolderInfo {
  return {
    mode: r.mode,
    host: r.host,
    pid: r.pid,
    tid: r.tid,
    threadId: r.threadId,
    since: Math.floor(r.since / 1000),
    alive,
  };
}
