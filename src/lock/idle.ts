// Released records, kept for a moment. A thread that closes a file and opens it again in
// the same mode (the common loop) reuses its record: one write to mark it instead of
// creating, writing, closing and removing a file, and the lock folder stays instead of
// being removed and made again (an rmdir plus mkdir costs more than HDF5's whole
// open+close on an ext4 disk). What is idle is removed once the event loop turns, and at
// exit at the latest; an idle record reads as "free" to everyone else meanwhile.

import { closeRecord, mark, removeIfEmpty, removeRecord } from "./folders.js";
import type { LockMode } from "./modes.js";
import type { LockRecord } from "./record.js";

/** A record of this thread's own, with its open descriptor: marks are one write. */
export interface OwnRecord extends LockRecord {
  fd: number;
}

const idle = new Map<string, OwnRecord>();
/** At most this many idle records per thread: each keeps a descriptor (a loop over many files must not run out). */
const MAX_IDLE = 32;
let timer: NodeJS.Timeout | undefined;
let hooked = false;

const keyOf = (path: string, mode: LockMode) => `${mode}\0${path}`;

/** An idle record of this thread for `path` in `mode`, taken out of the idle set. */
export function takeIdle(path: string, mode: LockMode): OwnRecord | undefined {
  const key = keyOf(path, mode);
  const r = idle.get(key);
  if (r) idle.delete(key);
  return r;
}

/** Marks a record free and keeps it for reuse until the event loop turns. */
export function putIdle(path: string, record: OwnRecord): void {
  mark(record.fd, "free");
  const key = keyOf(path, record.mode);
  const previous = idle.get(key);
  if (previous) {
    idle.delete(key);
    discard(previous, false);
  }
  if (idle.size >= MAX_IDLE) {
    const [oldestKey, oldest] = idle.entries().next().value as [string, OwnRecord];
    idle.delete(oldestKey);
    discard(oldest);
  }
  idle.set(key, record);
  timer ??= setTimeout(sweep, 0).unref();
  if (!hooked) {
    hooked = true;
    process.on("exit", sweep);
  }
}

/** Removes a record of this thread for good, and its folder if that was the last record. */
export function discard(record: OwnRecord, removeFolder = true): void {
  removeRecord(record.dir, record.name);
  try {
    closeRecord(record.fd);
  } catch {
    // Closed already: nothing to give back. (Never thrown into a timer or an exit hook.)
  }
  if (removeFolder) removeIfEmpty(record.dir);
}

/** Removes every idle record now (at exit: no later is coming). */
export function sweep(): void {
  timer = undefined;
  const records = [...idle.values()];
  idle.clear();
  for (const r of records) discard(r, false);
  for (const dir of new Set(records.map((r) => r.dir))) removeIfEmpty(dir);
}
