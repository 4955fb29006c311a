// The data file's own OS lock as a gate of the record lock (lock/wait.ts): once the record
// lock is granted, flock(2) on the HDF5 file, as native HDF5 programs take it, so that
// they and Node exclude each other. Shared for readers, exclusive for writers, none for a
// SWMR writer (HDF5 holds none either once its open is done).

import { hostname } from "node:os";
import { debug } from "../debug.js";
import type { HolderInfo } from "../errors.js";
import type { LockMode } from "../lock/modes.js";
import { IDLE_MS } from "../lock/idle.js";
import { Keep } from "../lock/keep.js";
import type { FileIdentity } from "../lock/path.js";
import type { Gate } from "../lock/wait.js";
import { NativeFileLock, nativeLocking, type FlockKind } from "./flock.js";

const EXHAUSTED = new Set(["EMFILE", "ENFILE", "ENOMEM"]);

/** The flock a lock mode takes on the data file; undefined: none. */
export function flockKindOf(mode: LockMode): FlockKind | undefined {
  switch (mode) {
    case "shared":
    case "swmr-read":
      return "shared";
    case "exclusive":
      return "exclusive";
    case "swmr-write":
      return undefined;
  }
}

/** A gate holding a flock on the data file; `lock` is kept (and closed) with the record lock. */
export interface DataFileGate extends Gate {
  readonly lock: NativeFileLock;
}

/**
 * The gate for taking `mode` on the data file at `path`; undefined where there is nothing
 * to take: a SWMR writer, the layer off (HDF5_USE_FILE_LOCKING=FALSE, H5TS_NATIVE_LOCK=0,
 * koffi missing: said once with NODE_DEBUG), or no file yet (it is locked once HDF5 has
 * made it: lockCreated). `create`: make the file first, so that it is locked before
 * h5wasm's `w` truncates it. `id`: what the file at `path` is now (path.ts's stat of this
 * open); none: it does not exist.
 */
export function dataFileGate(path: string, mode: LockMode, create: boolean, id: FileIdentity | undefined): DataFileGate | undefined {
  const kind = flockKindOf(mode);
  if (!kind) return undefined;
  // Turned off since the descriptor was kept: it must not be used (NativeFileLock.open says why).
  let lock = id && idle.size > 0 && nativeLocking().enabled ? takeIdle(path, kind, id) : undefined;
  if (!lock) {
    const opened = NativeFileLock.open(path, kind, { create, writable: kind === "exclusive", found: id });
    if (!opened.lock) {
      // Out of descriptors or memory says nothing of the file: not a reason to go on
      // without its flock unheard (out of descriptors, the open then goes on as any such
      // open: H5TS_UNLOCKED; out of memory, it fails). Otherwise (no such file, no access,
      // not a regular file) HDF5's own open meets the same, as with bare h5wasm.
      if (opened.code && EXHAUSTED.has(opened.code)) throw Object.assign(new Error(opened.reason), { code: opened.code });
      if (debug.enabled) debug("no native lock on %s: %s", path, opened.reason);
      return undefined;
    }
    lock = opened.lock;
  }
  const held = lock;
  return {
    lock: held,
    tryPass: () => held.tryAcquire(),
    blockers: () => held.holders().map(toHolderInfo),
    abandon: () => held.close(),
  };
}

// Descriptors whose flock was let go, kept a while (as released records are, idle.ts) for
// the thread's next open of the same file: a flock and an unlock instead of an open, a
// stat and a close. One per file, 32 at most per thread.
const idle = new Keep<NativeFileLock>({ max: 32, keepMs: IDLE_MS }, (lock) => lock.close());

/**
 * Lets go of the data file's flock with its lock; the descriptor is kept a moment for
 * reuse, unless `keep` is false (an open that failed leaves nothing behind).
 */
export function releaseDataFileLock(lock: NativeFileLock | undefined, keep = true): void {
  if (!lock) return;
  // Made for a w open, or HDF5's now (it closes it): not kept.
  if (!keep || lock.created || lock.handedOver) {
    lock.close();
    return;
  }
  try {
    lock.unlock("shared");
  } catch {
    lock.close();
    return;
  }
  idle.put(lock.path, lock);
}

/** This thread's kept descriptor of `path`, if the path still names the same file (`now`). */
function takeIdle(path: string, kind: FlockKind, now: FileIdentity): NativeFileLock | undefined {
  const lock = idle.take(path);
  if (!lock) return undefined;
  try {
    // Removed and made again meanwhile: the descriptor would lock the old file.
    if (now.ino !== lock.ino || now.dev !== lock.dev) throw new Error("replaced");
    // A reader's descriptor cannot be lent to a writer's open (h5wasm/handover.ts).
    if (kind === "exclusive" && !lock.writable) throw new Error("read only");
    lock.unlock(kind);
    return lock;
  } catch {
    lock.close();
    return undefined;
  }
}

/**
 * The flock of a file that HDF5 created just now (it did not exist when the record lock was
 * taken), or taken again once HDF5 closed the descriptor that held it (registry.ts). One
 * try: a native program that opened the file in between keeps it, and the thread goes on
 * without the native lock (said with NODE_DEBUG).
 */
export function lockCreated(path: string, mode: LockMode): NativeFileLock | undefined {
  let gate: DataFileGate | undefined;
  try {
    gate = dataFileGate(path, mode, false, undefined);
  } catch (e) {
    // HDF5 has the file open already: nothing to give back, and the open stands.
    debug("no native lock on %s: %s", path, (e as Error).message);
    return undefined;
  }
  if (!gate) return undefined;
  if (gate.tryPass()) return gate.lock;
  debug("no native lock on %s: a native program took the new file first", path);
  gate.abandon();
  return undefined;
}

function toHolderInfo(h: { pid: number; command: string; mode: FlockKind }): HolderInfo {
  return { lock: h.mode === "exclusive" ? "exclusive" : "shared", host: hostname(), pid: h.pid, tid: h.pid, threadId: 0, since: 0, alive: true, command: h.command };
}
