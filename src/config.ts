// Settings of the lock, per thread: defaults, then environment, then configure().

import { InvalidArgumentError } from "./errors.js";

export interface Options {
  /** How long an open may wait for a conflicting holder, in ms. Infinity (default) waits
   * as long as the holders are alive; 0 fails at once. Env: H5TS_TIMEOUT_MS. */
  timeoutMs: number;
  /** After this long waiting, one process warning names the file and its holders. */
  warnAfterMs: number;
  /** Holders on other hosts are judged gone when their heartbeat is older than this. */
  remoteStaleMs: number;
  /** Folder for lock files instead of beside each data file. Env: H5TS_LOCK_DIR. */
  lockDir: string | undefined;
  /** Warn (once per file) about files still open when a thread or process exits, which
   * are closed for you. Env: H5TS_WARN_UNCLOSED=1. */
  warnUnclosed: boolean;
}

/**
 * A number of ms from the environment. A value that is not one is said once (a warning,
 * H5TS_BAD_ENV) and the default used: the patch must not make every open throw over a
 * typo in a variable (opens only ever fail as h5wasm's do, or with LockTimeoutError).
 */
function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = raw === "Infinity" ? Infinity : Number(raw);
  if (value >= 0) return value;
  process.emitWarning(`${name}=${JSON.stringify(raw)} is not a number of milliseconds >= 0 (or "Infinity"); using ${fallback}`, { type: "H5ThreadsafeWarning", code: "H5TS_BAD_ENV" });
  return fallback;
}

function defaults(): Options {
  return {
    timeoutMs: envNumber("H5TS_TIMEOUT_MS", Infinity),
    warnAfterMs: 10_000,
    remoteStaleMs: envNumber("H5TS_REMOTE_STALE_MS", 60_000),
    lockDir: process.env.H5TS_LOCK_DIR || undefined,
    warnUnclosed: process.env.H5TS_WARN_UNCLOSED === "1",
  };
}

let current: Options | undefined;

export function settings(): Options {
  return (current ??= defaults());
}

function checkMs(name: string, value: unknown): number {
  if (typeof value !== "number" || !(value >= 0)) {
    throw new InvalidArgumentError(`options.${name}`, `must be a number >= 0 (Infinity allowed), got ${String(value)}`);
  }
  return value;
}

/** Checks user options, naming the exact option that is wrong. */
export function validate(options: Partial<Options> | undefined): Partial<Options> {
  if (options === undefined) return {};
  if (options === null || typeof options !== "object") {
    throw new InvalidArgumentError("options", "must be an object");
  }
  const out: Partial<Options> = {};
  for (const [key, value] of Object.entries(options)) {
    switch (key) {
      case "timeoutMs":
      case "warnAfterMs":
      case "remoteStaleMs":
        out[key] = checkMs(key, value);
        break;
      case "lockDir":
        if (value !== undefined && (typeof value !== "string" || value === "")) {
          throw new InvalidArgumentError("options.lockDir", "must be a non-empty string");
        }
        out.lockDir = value as string | undefined;
        break;
      case "warnUnclosed":
        if (typeof value !== "boolean") throw new InvalidArgumentError("options.warnUnclosed", "must be a boolean");
        out.warnUnclosed = value;
        break;
      default:
        throw new InvalidArgumentError(`options.${key}`, "is not a known option");
    }
  }
  return out;
}

/** Changes this thread's settings; returns the result. */
export function configure(options: Partial<Options>): Options {
  current = { ...settings(), ...validate(options) };
  return { ...current };
}
