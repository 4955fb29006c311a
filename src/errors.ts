// Error classes of the explicit API. Each has a stable string `code`; the drop-in patch
// never throws these except LockTimeoutError (a wait that the user bounded ran out) and
// ENOLOCKDIR for a lock folder the user configured that cannot be used.

import type { LockMode } from "./lock/modes.js";

/** One holder (or waiter) of a lock, as others see it. */
export interface HolderInfo {
  /** The kind of lock it holds (or waits for). */
  lock: LockMode;
  host: string;
  pid: number;
  /** OS thread id (Linux), or the pid where threads cannot be told apart. */
  tid: number;
  /** Node's worker_threads threadId (0 for a main thread). */
  threadId: number;
  /** When the lock was taken (or the wait began), ms since the epoch. */
  since: number;
  /** false when the holder is known to be gone (its record is reaped on sight). */
  alive: boolean;
  /** A native HDF5 program's command (from /proc/locks): it holds the data file's flock, not a record. */
  command?: string;
}

/** Why the explicit API could not open a file (FileOpenError.code). */
export type FileOpenErrorCode = "ENOENT" | "EISDIR" | "EEXIST" | "ENOTHDF5" | "EINVALMODE" | "EREOPEN" | "EOPEN";
/** Every `code` an H5TSError can carry. */
export type H5TSErrorCode = "ELOCKTIMEOUT" | "EINVALIDARG" | "ENOTREADY" | "ENOLOCKDIR" | FileOpenErrorCode;

/** The codes, as constants: `e.code === ErrorCodes.ELOCKTIMEOUT`. */
export const ErrorCodes = Object.freeze({
  ELOCKTIMEOUT: "ELOCKTIMEOUT",
  EINVALIDARG: "EINVALIDARG",
  ENOTREADY: "ENOTREADY",
  ENOLOCKDIR: "ENOLOCKDIR",
  ENOENT: "ENOENT",
  EISDIR: "EISDIR",
  EEXIST: "EEXIST",
  ENOTHDF5: "ENOTHDF5",
  EINVALMODE: "EINVALMODE",
  EREOPEN: "EREOPEN",
  EOPEN: "EOPEN",
} as const satisfies { [K in H5TSErrorCode]: K });

export class H5TSError extends Error {
  readonly code: H5TSErrorCode;
  constructor(code: H5TSErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * Emits a warning at once (process.emitWarning waits for a tick, which a blocked thread or
 * an exiting process does not give): an Error named H5ThreadsafeWarning with `code`.
 */
export function warnNow(code: string, message: string, cause?: unknown): void {
  process.emit("warning", Object.assign(new Error(message), { name: "H5ThreadsafeWarning", code }, cause === undefined ? {} : { cause }));
}

export function describeHolder(h: HolderInfo): string {
  if (h.command !== undefined) return `${h.lock} (native flock) by ${h.command} (${h.pid > 0 ? `pid ${h.pid}` : "pid not visible here"})`;
  const who = h.threadId ? `pid ${h.pid} thread ${h.threadId} (tid ${h.tid})` : `pid ${h.pid}`;
  return `${h.lock} by ${who} on ${h.host} since ${new Date(h.since).toISOString()}${h.alive ? "" : " (gone)"}`;
}

/** "a shared lock", "an exclusive lock". */
export const aLock = (lock: LockMode) => `${/^[aeiou]/.test(lock) ? "an" : "a"} ${lock} lock`;

/**
 * A wait for a lock ran past `timeoutMs`. `lock` is the kind of lock waited for, `mode`
 * the h5wasm mode of the open that waited (undefined for a lock taken without an open).
 */
export class LockTimeoutError extends H5TSError {
  declare readonly code: "ELOCKTIMEOUT";
  readonly path: string;
  readonly lock: LockMode;
  mode: string | undefined;
  readonly holders: HolderInfo[];
  /** Whole milliseconds. */
  readonly waitedMs: number;
  constructor(path: string, lock: LockMode, holders: HolderInfo[], waitedMs: number) {
    super("ELOCKTIMEOUT", "");
    this.path = path;
    this.lock = lock;
    this.holders = holders;
    this.waitedMs = Math.round(waitedMs);
    this.message = this.#describe();
  }

  /** Says which open waited: the mode the user wrote. */
  forOpen(mode: string): this {
    this.mode = mode;
    this.message = this.#describe();
    return this;
  }

  #describe(): string {
    const list = this.holders.length ? this.holders.map(describeHolder).join("; ") : "no holder left (waiting behind earlier writers)";
    const what = this.mode === undefined ? aLock(this.lock) : `${aLock(this.lock)} to open it with mode ${JSON.stringify(this.mode)}`;
    return `timed out after ${this.waitedMs} ms waiting for ${what} on ${this.path}: held ${list}`;
  }
}

/** An option or argument is not valid; `option` names it. */
export class InvalidArgumentError extends H5TSError {
  declare readonly code: "EINVALIDARG";
  readonly option: string;
  constructor(option: string, message: string) {
    super("EINVALIDARG", `${option} ${message}`);
    this.option = option;
  }
}

/** The explicit API could not open a file. `code` tells why: ENOENT, EISDIR, EEXIST,
 * ENOTHDF5, EINVALMODE, EREOPEN or EOPEN (HDF5 refused for another reason). */
export class FileOpenError extends H5TSError {
  declare readonly code: FileOpenErrorCode;
  readonly path: string;
  readonly mode: string;
  constructor(code: FileOpenErrorCode, path: string, mode: string, message: string, options?: { cause?: unknown }) {
    super(code, `cannot open ${JSON.stringify(path)} with mode ${JSON.stringify(mode)}: ${message}`, options);
    this.path = path;
    this.mode = mode;
  }
}
