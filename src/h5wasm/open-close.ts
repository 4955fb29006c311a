// The open and close steps around HDF5's own calls: take a share of the thread's lock on
// the file (registry.ts), open, and bind the share to the new handle; close, and give the
// share back. Used by the patch (drop-in) and by the explicit API.

import { accessSync, constants } from "node:fs";
import { dirname } from "node:path";
import { settings } from "../config.js";
import { LockTimeoutError, warnNow, type H5TSError } from "../errors.js";
import { closeAtExit } from "../lifecycle.js";
import type { LockMode } from "../lock/modes.js";
import type { LockOptions } from "../lock/options.js";
import { isDirectory } from "../lock/folders.js";
import { resolvePath } from "../lock/path.js";
import { openHandingOver } from "./handover.js";
import { openFiles, type H5File } from "../registry.js";

const BYPASS = Symbol.for("h5-threadsafe.bypass.v1");
const thread = globalThis as { [BYPASS]?: number };

/** Whether the patch's wrappers must step aside (the explicit API is opening or closing, and locks itself). */
export function bypassed(): boolean {
  return (thread[BYPASS] ?? 0) > 0;
}

/** Runs `fn` with the patch's wrappers stepping aside. */
export function bypassing<T>(fn: () => T): T {
  thread[BYPASS] = (thread[BYPASS] ?? 0) + 1;
  try {
    return fn();
  } finally {
    thread[BYPASS]!--;
  }
}

export interface OpenRequest {
  filename: string;
  /** The h5wasm mode string. */
  mode: string;
  lock: LockMode;
  options?: Partial<LockOptions>;
  /** Explicit API: fail on a reopen HDF5 refuses in this thread and where no lock can be made. */
  strict?: boolean;
  /** h5wasm's Emscripten file system (Module.FS): HDF5 is given the flock's descriptor through it (handover.ts). */
  fileSystem?: unknown;
}

/**
 * Opens with `open` while holding a share of the thread's lock on the file; the share is
 * given back when the open fails or throws. Returns what `open` returned.
 */
export function openLocked<T extends bigint | H5File>(req: OpenRequest, open: () => T): T {
  const { path, id, unreachable } = resolvePath(req.filename);
  // No such folder (as the kernel sees the name): HDF5 fails the open as it always did,
  // and nothing may be locked, made or lent by a name that means another file as text.
  if (unreachable) return open();
  const table = openFiles();
  let share;
  try {
    share = table.claimSync({ path, id, lock: req.lock, mode: req.mode, options: req.options, strict: req.strict });
  } catch (e) {
    if (e instanceof LockTimeoutError) throw e.forOpen(req.mode);
    const code = (e as H5TSError).code ?? "";
    // Out of descriptors: behave as bare h5wasm does then (it fails the same way, or opens).
    if (!req.strict && OUT_OF_DESCRIPTORS.has(code)) {
      warnUnlocked(path, e as H5TSError);
      return open();
    }
    // A folder on the way that this user may not search: HDF5 cannot reach the file
    // either, and refuses the open as it always did (the lock's EACCES is not h5wasm's).
    if (!req.strict && NO_ACCESS.has(code) && !searchable(dirname(path))) return open();
    if (req.strict || code !== "ENOLOCKDIR") throw e;
    // The file's folder does not exist, or is a file: HDF5 refuses the open as it always did.
    if (!isDirectory(dirname(path))) return open();
    // A lock folder of the user's choice that cannot be used is a configuration error.
    if (req.options?.lockDir ?? settings().lockDir) throw e;
    warnUnlocked(path, e as H5TSError);
    return open();
  }
  let result: T;
  try {
    result = openHandingOver(req.fileSystem, req.filename, table.lendable(share), open);
  } catch (e) {
    share.release(true);
    throw e;
  }
  const file = typeof result === "bigint" ? undefined : (result as H5File);
  const fileId = file ? file.file_id : (result as bigint);
  if (fileId < 0n) {
    share.release(true);
    return result;
  }
  table.bind(share, fileId, req.filename, req.mode, file);
  closeAtExit();
  return result;
}

/** Closes with `close`, then gives back the handle's share of the lock, whatever happened. */
export function closeLocked<T>(fileId: bigint, close: () => T): T {
  try {
    return close();
  } finally {
    openFiles().get(fileId)?.release();
  }
}

/** start_swmr_write succeeded on a handle: its exclusive lock becomes swmr-write. */
export function swmrWriteStarted(fileId: bigint): void {
  const share = openFiles().get(fileId);
  if (share) share.table.swmrWriteStarted(share);
}

/** A File object was made for an open handle: the registry hands out that one. */
export function adoptFile(file: H5File): void {
  const share = openFiles().get(file.file_id);
  if (share) share.file = file;
}

const OUT_OF_DESCRIPTORS = new Set(["EMFILE", "ENFILE"]);

const NO_ACCESS = new Set(["EACCES", "EPERM"]);

function searchable(folder: string): boolean {
  try {
    accessSync(folder, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
const warned = new Set<string>();

/** No lock could be made anywhere for this file: the open goes on, and the user hears of it once per file. */
function warnUnlocked(path: string, e: H5TSError): void {
  if (warned.has(path) || warned.size > 1000) return;
  warned.add(path);
  // At once: the program may not return to its event loop soon.
  warnNow("H5TS_UNLOCKED", `opening ${path} WITHOUT a lock: ${e.message}`, e);
}
