// Lock folders and the records in them, on disk: where a file's records live, making and
// removing folders, and creating, marking, reading, listing and removing records. The
// format of a record is record.ts; what the records mean is protocol.ts.

import { createHash } from "node:crypto";
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  rmdirSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { H5TSError } from "../errors.js";
import { STATE_BYTES, parseRecord, stateOfContent, type LockRecord, type RecordState } from "./record.js";

/**
 * Where the records of a file live: beside it (so that hosts sharing a file system see
 * them), or in the configured lock folder. A user who cannot write beside the file puts
 * its records in this host's fallback folder instead, which every locker of the file on
 * this host also reads (`fallback`; none when a lock folder is configured).
 */
export interface LockDirs {
  primary: string;
  fallback?: string;
  /** Every folder that may hold records of the file: the primary, then the fallback. */
  all: readonly string[];
}

/**
 * This host's fallback folder, shared by all users as /tmp is (mode 1777): one place for
 * every process of the host whatever its TMPDIR (pam_tmpdir, SLURM jobs set their own):
 * /run/lock/h5-threadsafe where /run/lock exists (the system's folder for lock files, a
 * tmpfs that systemd's PrivateTmp does not hide), else /tmp/h5-threadsafe.
 * H5TS_FALLBACK_DIR overrides it: every process of the host must then agree (the tests
 * use a private one).
 */
export const FALLBACK_ROOT = process.env.H5TS_FALLBACK_DIR || (isDirectory("/run/lock") ? "/run/lock/h5-threadsafe" : "/tmp/h5-threadsafe");

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

// Per thread: the names are a pure function of the path, and hashing costs per open.
const dirsCache = new Map<string, LockDirs>();

export function lockDirsFor(canonicalPath: string, lockDir: string | undefined): LockDirs {
  const key = `${lockDir ?? ""}\0${canonicalPath}`;
  let dirs = dirsCache.get(key);
  if (!dirs) {
    const primary = lockDir ? join(lockDir, hashedName(canonicalPath)) : join(dirname(canonicalPath), `.${basename(canonicalPath)}.h5ts`);
    const fallback = lockDir ? undefined : join(FALLBACK_ROOT, hashedName(canonicalPath));
    dirs = { primary, fallback, all: fallback ? [primary, fallback] : [primary] };
    if (dirsCache.size >= 1000) dirsCache.clear(); // a bound for programs that touch many files
    dirsCache.set(key, dirs);
  }
  return dirs;
}

function hashedName(canonicalPath: string): string {
  const hash = createHash("sha256").update(canonicalPath).digest("hex").slice(0, 16);
  return `${hash}-${basename(canonicalPath)}.h5ts`;
}

/**
 * Creates a lock folder. Fails with H5TSError ENOLOCKDIR (with the system error as cause)
 * when that is not possible. In the host's shared fallback folder, lock folders are open
 * to every user, as the records of all users of a file must meet there.
 */
export function makeLockDir(dir: string): void {
  try {
    mkdirSync(dir);
    if (dirname(dir) === FALLBACK_ROOT) chmodSync(dir, 0o777);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return;
    if (code === "ENOENT" && dirname(dir) === FALLBACK_ROOT) {
      makeFallbackRoot();
      return makeLockDir(dir);
    }
    throw new H5TSError("ENOLOCKDIR", `cannot create lock folder ${dir}: ${code}`, { cause: e });
  }
}

/** Creates the host's fallback folder, sticky and writable by all, as /tmp is. */
export function makeFallbackRoot(): void {
  try {
    mkdirSync(FALLBACK_ROOT);
    chmodSync(FALLBACK_ROOT, 0o1777);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
}

/** Removes a lock folder now if it is empty (others hold or wait: then it stays). */
export function removeIfEmpty(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // Not empty, or gone already: both fine.
  }
}

/** The names in a lock folder; none when it does not exist. A folder that may well not
 * exist is checked first (`oftenMissing`): a readdir that throws costs more than the check. */
export function listNames(dir: string, oftenMissing = false): string[] {
  if (oftenMissing && !existsSync(dir)) return [];
  try {
    return readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
}

/** The records in a lock folder, without those that `skip` rules out by name (cheaper than parsing). */
export function listRecords(dir: string, skip?: (name: string) => boolean, oftenMissing = false): LockRecord[] {
  const out: LockRecord[] = [];
  for (const n of listNames(dir, oftenMissing)) {
    if (skip?.(n)) continue;
    const r = parseRecord(n, dir);
    if (r) out.push(r);
  }
  return out;
}

/** Creates a record (empty: waiting); returns its open descriptor, for mark(). */
export function createRecord(dir: string, name: string): number {
  return openSync(join(dir, name), "wx");
}

/** Writes where a record of this thread stands, through its open descriptor. */
export function mark(fd: number, state: RecordState): void {
  writeSync(fd, STATE_BYTES[state], 0, 1, 0);
}

export function closeRecord(fd: number): void {
  closeSync(fd);
}

/** Where a record stands now; undefined once it is gone. */
export function readState(r: LockRecord): RecordState | undefined {
  try {
    return stateOfContent(readFileSync(join(r.dir, r.name), "latin1"));
  } catch {
    return undefined;
  }
}

/** Removes a record; false when it was already gone. */
export function removeRecord(dir: string, name: string): boolean {
  try {
    unlinkSync(join(dir, name));
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw e;
  }
}

/** Refreshes a record's heartbeat (its mtime). */
export function touchRecord(dir: string, name: string): void {
  const now = new Date();
  try {
    utimesSync(join(dir, name), now, now);
  } catch {
    // A record that is gone has nothing to keep fresh.
  }
}

/** How long ago a record's heartbeat was refreshed; undefined once it is gone. */
export function recordAgeMs(r: LockRecord): number | undefined {
  try {
    return Date.now() - statSync(join(r.dir, r.name)).mtimeMs;
  } catch {
    return undefined;
  }
}
