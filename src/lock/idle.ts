// Released records, kept a while (keep.ts). A thread that closes a file and opens it again
// in the same mode (the common loop, or a server answering one request per turn) reuses
// its record: one write to mark it instead of creating, writing, closing and removing a
// file, and the lock folder stays instead of being removed and made again (an rmdir plus
// mkdir costs more than HDF5's whole open+close on an ext4 disk). An idle record reads as
// "free" to everyone else; a dead thread's is reaped by whoever meets it.

import { closeRecord, mark, removeIfEmpty, removeRecord, type RecordFile } from "./folders.js";
import { Keep } from "./keep.js";
import type { LockMode } from "./modes.js";
import type { LockRecord } from "./record.js";
import { forget } from "./unchanged.js";

/** A record of this thread's own (folders.ts's RecordFile: its descriptor, while kept). */
export interface OwnRecord extends LockRecord, RecordFile {}

/**
 * How long a released record is kept: long enough for one request per event-loop turn of
 * a busy server, short enough that a lock folder does not outlive its users for long.
 * At most 32 per thread: each may keep a descriptor.
 */
export const IDLE_MS = 250;
const idle = new Keep<OwnRecord>({ max: 32, keepMs: IDLE_MS }, (r) => discard(r));

const keyOf = (path: string, mode: LockMode) => `${mode}\0${path}`;

/** An idle record of this thread for `path` in `mode`, taken out of the idle set. */
export function takeIdle(path: string, mode: LockMode): OwnRecord | undefined {
  return idle.take(keyOf(path, mode));
}

/** Marks a record free and keeps it for reuse. */
export function putIdle(path: string, record: OwnRecord): void {
  try {
    mark(record, "free");
  } catch {
    discard(record); // a record that cannot say "free" must not stay
    return;
  }
  idle.put(keyOf(path, record.mode), record);
}

/** Removes a record of this thread for good, and its folder if that was the last record. */
export function discard(record: OwnRecord, removeFolder = true): void {
  forget(record);
  removeRecord(record.dir, record.name, record); // only the record it made, never through a swapped folder
  closeRecord(record);
  if (removeFolder) removeIfEmpty(record.dir);
}

/** Removes every idle record now (at exit, or on a signal: no later is coming). */
export function sweep(): void {
  idle.clear();
}
