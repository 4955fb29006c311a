// Adapts h5wasm to the lock: which lock an h5wasm open needs, and the open and close
// steps that take and give back a share of the thread's lock around HDF5's own calls.
// Used by the patch (drop-in) and by the explicit API.

import * as h5 from "h5wasm/node";
import { H5TSError } from "./errors.js";
import type { LockOptions } from "./lock.js";
import type { LockMode } from "./modes.js";
import { registry, type Entry } from "./registry.js";
import { canonicalPath, threadLocks } from "./thread-locks.js";

export type H5Module = typeof h5.Module;
export type H5File = InstanceType<typeof h5.File>;

/** The lock an h5wasm mode string needs; undefined for a mode h5wasm does not know. */
export function lockModeOf(mode: string): LockMode | undefined {
  switch (mode) {
    case "r":
      return "shared";
    case "Sr":
      return "swmr-read";
    case "a":
    case "w":
    case "x":
      return "exclusive";
    case "Sa":
      return "swmr-write";
    default:
      return undefined;
  }
}

/** The h5wasm mode string behind the flags that File passes to Module.open. */
export function modeOfFlags(M: H5Module, flags: unknown): string | undefined {
  for (const [mode, name] of Object.entries(h5.ACCESS_MODES)) {
    if ((M as unknown as Record<string, unknown>)[name] === flags) return mode;
  }
  return undefined;
}

export function fileRegistry() {
  return registry() as ReturnType<typeof registry> & { materialize?: (e: Entry) => H5File };
}

/** Runs `fn` with the patch's wrappers stepping aside (the explicit API locks itself). */
export function bypassing<T>(fn: () => T): T {
  const reg = fileRegistry();
  reg.bypass++;
  try {
    return fn();
  } finally {
    reg.bypass--;
  }
}

export interface OpenRequest {
  filename: string;
  mode: string;
  lock: LockMode;
  options?: Partial<LockOptions>;
  /** Explicit API: fail on an incompatible reopen and on a folder where no lock can be made. */
  strict?: boolean;
}

/**
 * Opens with `open` while holding a share of the thread's lock on the file; the share is
 * given back when the open fails or throws. Returns what `open` returned.
 */
export function openLocked<T extends bigint | H5File>(req: OpenRequest, open: () => T): T {
  const path = canonicalPath(req.filename);
  const locks = threadLocks();
  if (req.strict && locks.verdict(path, req.lock) === "incompatible") {
    throw new H5TSError("EREOPEN", `${path} is open in this thread as ${locks.heldMode(path)}; it cannot be opened again as ${req.lock}`);
  }
  let claim;
  try {
    claim = locks.claimSync(path, req.lock, req.options);
  } catch (e) {
    // No folder to lock in (it does not exist): HDF5 will refuse the open as it always did.
    if (!req.strict && (e as H5TSError).code === "ENOLOCKDIR") return open();
    throw e;
  }
  let result: T;
  try {
    result = open();
  } catch (e) {
    claim.release(true);
    throw e;
  }
  const fileId = typeof result === "bigint" ? result : (result as H5File).file_id;
  if (fileId < 0n) {
    claim.release(true);
    return result;
  }
  fileRegistry().add({
    fileId,
    filename: req.filename,
    path,
    mode: req.mode,
    claim,
    file: typeof result === "bigint" ? undefined : (result as H5File),
  });
  return result;
}

/** Closes with `close`, then gives back the handle's share of the lock, whatever happened. */
export function closeLocked<T>(fileId: bigint, close: () => T): T {
  try {
    return close();
  } finally {
    fileRegistry().remove(fileId)?.claim.release();
  }
}

/** start_swmr_write succeeded on a handle: its exclusive lock becomes swmr-write. */
export function swmrWriteStarted(fileId: bigint): void {
  fileRegistry().get(fileId)?.claim.change("swmr-write");
}
