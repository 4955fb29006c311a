// Who holds and who waits for a file's lock, as its records say; and clearing the records
// of those that are gone. For the command line and the public API: it never takes a lock.

import type { HolderInfo } from "../errors.js";
import { nativeHolders } from "../native/flock.js";
import { listRecords, lockDirsFor, readState, removeIfEmpty, removeLeftTemporaries, removeRecord } from "./folders.js";
import { identity, isAlive } from "./liveness.js";
import { lockOptions, type LockOptions } from "./options.js";
import { resolvePath } from "./path.js";
import { toHolderInfo, type LockRecord } from "./record.js";

export interface LockState {
  path: string;
  /** The folders its records may be in: beside the file, and this host's fallback. */
  dirs: string[];
  holders: HolderInfo[];
  waiters: HolderInfo[];
  /**
   * Processes holding the data file's own flock (from /proc/locks) that have no record
   * here: native HDF5 programs (h5py, h5dump, ...), each with its `command`.
   */
  native: HolderInfo[];
}

function recordsOf(path: string, options?: Partial<LockOptions>) {
  const { path: canonical, id } = resolvePath(path);
  const o = lockOptions(options);
  const dirs = [...lockDirsFor(canonical, o.lockDir, id).all]; // a copy: LockState hands it out
  const records: LockRecord[] = dirs.flatMap((d) => listRecords(d));
  return { canonical, dirs, records, o };
}

/** Who holds and who waits for `path`'s lock, as recorded; gone ones are marked, not removed. */
export function inspect(path: string, options?: Partial<LockOptions>): LockState {
  const { canonical, dirs, records, o } = recordsOf(path, options);
  const state: LockState = { path: canonical, dirs, holders: [], waiters: [], native: [] };
  for (const r of records) {
    const held = readState(r);
    if (held === undefined || held === "free") continue;
    const waiting = held === "waiting" || held === "deferring";
    const info = toHolderInfo(r, waiting ? r.mode : held, isAlive(r, o.remoteStaleMs));
    (waiting ? state.waiters : state.holders).push(info);
  }
  const ours = new Set(records.filter((r) => r.host === identity().host).map((r) => r.pid));
  for (const h of nativeHolders(canonical)) {
    if (ours.has(h.pid)) continue; // a Node holder's own flock
    state.native.push({ lock: h.mode, host: identity().host, pid: h.pid, tid: h.pid, threadId: 0, since: 0, alive: true, command: h.command });
  }
  return state;
}

/**
 * Removes the records of holders and waiters that are gone (with `alsoLive`, those of live
 * ones too: for holders known to be stuck); returns how many. A live thread's idle record
 * holds nothing and stays: that thread may take it again for its next open.
 */
export function clearGone(path: string, options?: Partial<LockOptions>, alsoLive = false): number {
  const { dirs, records, o } = recordsOf(path, options);
  let n = 0;
  for (const r of records) {
    const alive = isAlive(r, o.remoteStaleMs);
    if (alive && (!alsoLive || readState(r) === "free")) continue;
    if (removeRecord(r.dir, r.name)) n++;
  }
  for (const d of dirs) {
    removeIfEmpty(d);
    removeLeftTemporaries(d); // folders half made by a process killed while making them
  }
  return n;
}
