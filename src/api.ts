// The explicit API: openFile / openFileAsync / withFile. Unlike the drop-in patch it
// reports what h5wasm would let pass silently (missing file, not HDF5, bad mode, an
// incompatible reopen in the same thread) as typed errors, and takes per-call options.

import { closeSync, openSync, readSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import * as h5 from "h5wasm/node";
import { validate, type Options } from "./config.js";
import { FileOpenError, H5TSError, InvalidArgumentError, LockTimeoutError, type FileOpenErrorCode } from "./errors.js";
import { lockModeOf } from "./h5wasm/access.js";
import { bypassing, closeLocked, openLocked } from "./h5wasm/open-close.js";
import type { LockMode } from "./lock/modes.js";
import { resolvePath } from "./lock/path.js";
import { openFiles } from "./registry.js";

export type Mode = "r" | "a" | "w" | "x" | "Sa" | "Sr";

/** Lock options for this call, plus h5wasm's own File options (track_order, libver). */
export interface OpenOptions extends Partial<Pick<Options, "timeoutMs" | "warnAfterMs" | "remoteStaleMs" | "lockDir">>, h5.FileOptions {}

/** The async API's options: also a `signal` that gives up the wait (an AbortError, or the signal's reason). */
export interface AsyncOpenOptions extends OpenOptions {
  signal?: AbortSignal;
}

/** A File opened through the explicit API: its close() gives back its lock. */
export class ThreadsafeFile extends h5.File {
  override close(): number {
    return closeLocked(this.file_id, () => bypassing(() => super.close()));
  }
  override [Symbol.dispose](): void {
    if (openFiles().get(this.file_id)?.file === this) this.close();
  }
  /** For `await using`: closes as `using` does (closing never waits). */
  async [Symbol.asyncDispose](): Promise<void> {
    this[Symbol.dispose]();
  }
}

const SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/** HDF5 looks for its signature at 0, 512, 1024, 2048, ... (a user block may precede it). */
function hasHdf5Signature(path: string, size: number): boolean {
  const fd = openSync(path, "r");
  try {
    const buf = Buffer.alloc(8);
    for (let at = 0; at + 8 <= size; at = at === 0 ? 512 : at * 2) {
      if (readSync(fd, buf, 0, 8, at) === 8 && buf.equals(SIGNATURE)) return true;
    }
    return false;
  } finally {
    closeSync(fd);
  }
}

function statOrUndefined(path: string) {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/** The checks of the arguments, made before anything else. */
function check(path: unknown, mode: unknown): { path: string; mode: Mode; lock: LockMode } {
  if (typeof path !== "string" || path === "") throw new InvalidArgumentError("path", "must be a non-empty string");
  const lock = typeof mode === "string" ? lockModeOf(mode) : undefined;
  if (!lock) throw new FileOpenError("EINVALMODE", path, String(mode), 'mode must be one of "r", "a", "w", "x", "Sr", "Sa"');
  const parent = statOrUndefined(dirname(resolve(path)));
  if (!parent?.isDirectory()) throw new FileOpenError("ENOENT", path, mode as string, "its directory does not exist");
  return { path, mode: mode as Mode, lock };
}

/**
 * The checks of the file that h5wasm does not make, each failure a typed error. They read
 * the file, so they run under the lock: a holder may legitimately be recreating it.
 */
function checkFile(path: string, mode: Mode): void {
  const st = statOrUndefined(path);
  const fail = (code: FileOpenErrorCode, why: string) => {
    throw new FileOpenError(code, path, mode, why);
  };
  if (st?.isDirectory()) fail("EISDIR", "it is a directory");
  if (mode === "x" && st) fail("EEXIST", "the file exists (mode x creates a new file only)");
  if (mode !== "w" && mode !== "x") {
    if (!st) fail("ENOENT", "no such file");
    if (!hasHdf5Signature(path, st!.size)) fail("ENOTHDF5", "not an HDF5 file (no HDF5 signature found)");
  }
}

function ready(): void {
  if (!h5.Module) throw new H5TSError("ENOTREADY", "h5wasm is not ready: await h5wasm.ready before opening files");
}

/** Opens under the lock; `lockOptions` are the caller's options, already validated. */
function construct(path: string, mode: Mode, options: OpenOptions | undefined, lockOptions: ReturnType<typeof lockOptionsOf>): ThreadsafeFile {
  const fileOptions = { track_order: options?.track_order ?? false, ...(options?.libver ? { libver: options.libver } : {}) };
  const lock = lockModeOf(mode)!;
  let opening = false; // past the lock: an error now is HDF5's (or the file's)
  try {
    const file = openLocked({ filename: path, mode, lock, options: lockOptions, strict: true, fileSystem: h5.Module.FS }, () => {
      opening = true;
      checkFile(path, mode);
      return bypassing(() => new ThreadsafeFile(path, mode, fileOptions as never));
    });
    if (file.file_id < 0n) throw new FileOpenError("EOPEN", path, mode, "HDF5 could not open it (see its diagnostics on stderr)");
    return file;
  } catch (e) {
    if (e instanceof H5TSError) {
      if (e.code === "EREOPEN") throw new FileOpenError("EREOPEN", path, mode, e.message, { cause: e });
      throw e;
    }
    const why = String((e as Error)?.message ?? e).split("\n")[0];
    throw new FileOpenError("EOPEN", path, mode, opening ? `HDF5 refused: ${why}` : `the lock could not be taken: ${why}`, { cause: e });
  }
}

function lockOptionsOf(options: OpenOptions | undefined) {
  if (!options) return undefined;
  const { track_order: _t, libver: _l, ...lock } = options;
  return validate(lock);
}

/**
 * Opens an HDF5 file holding the lock its mode needs, waiting (synchronously) while
 * other threads or processes hold a conflicting one.
 */
export function openFile(path: string, mode: Mode = "r", options?: OpenOptions): ThreadsafeFile {
  const c = check(path, mode);
  const lockOptions = lockOptionsOf(options);
  ready();
  return construct(c.path, c.mode, options, lockOptions);
}

/**
 * Like openFile, but waits for the lock without blocking the event loop; the open itself
 * then runs synchronously as in h5wasm. `options.signal` gives up the wait: the promise
 * rejects with the signal's reason (an AbortError by default) and nothing is left held.
 */
export async function openFileAsync(path: string, mode: Mode = "r", options?: AsyncOpenOptions): Promise<ThreadsafeFile> {
  const { signal, ...rest } = options ?? {};
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidArgumentError("options.signal", "must be an AbortSignal");
  signal?.throwIfAborted();
  const c = check(path, mode);
  const lockOptions = lockOptionsOf(options ? rest : undefined);
  ready();
  // Take the thread's lock first without blocking; the open below then joins it at once.
  const request = { ...resolvePath(c.path), lock: c.lock, mode: c.mode, options: lockOptions, strict: true };
  let waiting;
  try {
    waiting = await openFiles().claim(request, signal);
  } catch (e) {
    if (e instanceof LockTimeoutError) throw e.forOpen(c.mode);
    throw e instanceof H5TSError && e.code === "EREOPEN" ? new FileOpenError("EREOPEN", c.path, c.mode, e.message, { cause: e }) : e;
  }
  try {
    return construct(c.path, c.mode, rest, lockOptions);
  } finally {
    waiting.release();
  }
}

/**
 * Opens a file, runs `fn` with it and closes it, also when `fn` throws or its promise
 * rejects. Returns what `fn` returns.
 */
export function withFile<T>(path: string, mode: Mode, fn: (file: ThreadsafeFile) => T, options?: OpenOptions): T {
  const file = openFile(path, mode, options);
  let result: T;
  try {
    result = fn(file);
  } catch (e) {
    file.close();
    throw e;
  }
  if (result instanceof Promise) {
    return result.finally(() => file.close()) as T;
  }
  file.close();
  return result;
}

/**
 * As withFile, waiting for the lock without blocking the event loop (openFileAsync):
 * opens, awaits `fn` with the file, closes it whatever happened. Returns what `fn` returns.
 */
export async function withFileAsync<T>(path: string, mode: Mode, fn: (file: ThreadsafeFile) => T | Promise<T>, options?: AsyncOpenOptions): Promise<T> {
  const file = await openFileAsync(path, mode, options);
  try {
    return await fn(file);
  } finally {
    file.close();
  }
}
