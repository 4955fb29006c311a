// Error classes of the explicit API. Each has a stable string `code`; the drop-in patch
// never throws these except LockTimeoutError (a wait that the user bounded ran out) and
// ENOLOCKDIR for a lock folder the user configured that cannot be used.

import type { LockMode } from "./lock/modes.js";

/** One holder (or waiter) of a lock, as others see it. */
export interface HolderInfo {
  mode: LockMode;
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

export class H5TSError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export function describeHolder(h: HolderInfo): string {
  if (h.command !== undefined) return `${h.mode} (native flock) by ${h.command} (${h.pid > 0 ? `pid ${h.pid}` : "pid not visible here"})`;
  const who = h.threadId ? `pid ${h.pid} thread ${h.threadId} (tid ${h.tid})` : `pid ${h.pid}`;
  return `${h.mode} by ${who} on ${h.host} since ${new Date(h.since).toISOString()}${h.alive ? "" : " (gone)"}`;
}

/** A wait for a lock ran past `timeoutMs`. */
export class LockTimeoutError extends H5TSError {
  readonly path: string;
  readonly mode: LockMode;
  readonly holders: HolderInfo[];
  readonly waitedMs: number;
  constructor(path: string, mode: LockMode, holders: HolderInfo[], waitedMs: number) {
    const list = holders.length ? holders.map(describeHolder).join("; ") : "no holder left (waiting behind earlier writers)";
    super("ELOCKTIMEOUT", `timed out after ${Math.round(waitedMs)} ms waiting for a ${mode} lock on ${path}: held ${list}`);
    this.path = path;
    this.mode = mode;
    this.holders = holders;
    this.waitedMs = waitedMs;
  }
}

/** An option or argument is not valid; `option` names it. */
export class InvalidArgumentError extends H5TSError {
  readonly option: string;
  constructor(option: string, message: string) {
    super("EINVALIDARG", `${option} ${message}`);
    this.option = option;
  }
}

/** The explicit API could not open a file. `code` tells why: ENOENT, EISDIR, EEXIST,
 * ENOTHDF5, EINVALMODE, EREOPEN or EOPEN (HDF5 refused for another reason). */
export class FileOpenError extends H5TSError {
  readonly path: string;
  readonly mode: string;
  constructor(code: string, path: string, mode: string, message: string, options?: { cause?: unknown }) {
    super(code, `cannot open ${JSON.stringify(path)} with mode ${JSON.stringify(mode)}: ${message}`, options);
    this.path = path;
    this.mode = mode;
  }
}
