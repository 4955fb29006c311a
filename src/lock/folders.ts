// Lock folders and the records in them, on disk: where a file's records live, making and
// removing folders, and creating, marking, reading, listing and removing records. The
// format of a record is record.ts; what the records mean is protocol.ts.

import { createHash, randomBytes } from "node:crypto";
import {
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readSync,
  readdirSync,
  renameSync,
  rmdirSync,
  statSync,
  unlinkSync,
  lutimesSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { threadId } from "node:worker_threads";
import { H5TSError } from "../errors.js";
import type { FileIdentity } from "./path.js";
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

/** Whether `path` names a folder (symlinks followed); false for any error. */
export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

// Per thread: the names are a pure function of the path, and hashing costs per open.
const dirsCache = new Map<string, LockDirs>();

/**
 * The folders of a file's records. A file with several names (hard links: `linked`, its
 * identity where it has more than one link) is locked by its inode, so that every name
 * meets the same records: they go to a folder named by device and inode in this host's
 * fallback folder (or the configured lock folder). The folders of its path are still
 * listed, for requests made before the file had another name. (Records by inode are this
 * host's: across hosts, names of one file meet through the data file's flock only.)
 */
export function lockDirsFor(canonicalPath: string, lockDir: string | undefined, linked?: FileIdentity): LockDirs {
  const byInode = linked && linked.nlink > 1 ? `ino-${linked.dev}-${linked.ino}.h5ts` : undefined;
  const key = `${lockDir ?? ""}\0${canonicalPath}\0${byInode ?? ""}`;
  let dirs = dirsCache.get(key);
  if (!dirs) {
    const primary = lockDir ? join(lockDir, hashedName(canonicalPath)) : join(dirname(canonicalPath), besideName(canonicalPath));
    const fallback = lockDir ? undefined : join(FALLBACK_ROOT, hashedName(canonicalPath));
    const ofPath = fallback ? [primary, fallback] : [primary];
    const ofInode = byInode && join(lockDir ?? FALLBACK_ROOT, byInode);
    dirs = ofInode ? { primary: ofInode, fallback, all: [ofInode, ...ofPath] } : { primary, fallback, all: ofPath };
    if (dirsCache.size >= 1000) dirsCache.clear(); // a bound for programs that touch many files
    dirsCache.set(key, dirs);
  }
  return dirs;
}

/** Whether a folder is in this host's fallback folder: shared by all users, and never another host's. */
export function inHostFolder(dir: string): boolean {
  return dirname(dir) === FALLBACK_ROOT;
}

const NAME_MAX = 255;
const hashOf = (canonicalPath: string) => createHash("sha256").update(canonicalPath).digest("hex").slice(0, 16);

/** `.<name>.h5ts`, or, for a name too long for that (NAME_MAX), `.<hash>.h5ts`. */
function besideName(canonicalPath: string): string {
  const name = `.${basename(canonicalPath)}.h5ts`;
  return Buffer.byteLength(name) <= NAME_MAX ? name : `.${hashOf(canonicalPath)}.h5ts`;
}

/** `<hash>-<name>.h5ts`, the name left out where it would not fit. */
function hashedName(canonicalPath: string): string {
  const name = `${hashOf(canonicalPath)}-${basename(canonicalPath)}.h5ts`;
  return Buffer.byteLength(name) <= NAME_MAX ? name : `${hashOf(canonicalPath)}.h5ts`;
}

/** Modes, set through the descriptor (never by a path someone could swap), so the umask does not decide them. */
const FOLDER_MODE = 0o755; // everyone who may open the file may read who holds it
const SHARED_FOLDER_MODE = 0o1777; // the fallback's: every user writes, none removes another's records (sticky)
const RECORD_MODE = 0o644;

/** What is in a lock folder's place is not a real folder (a symlink, a file...). */
const notAFolder = (dir: string) => lockDirError(dir, "not a directory (a symlink or another file is in its place)");

function lockDirError(dir: string, why: string, cause?: unknown): H5TSError {
  return new H5TSError("ENOLOCKDIR", `cannot use lock folder ${dir}: ${why}`, { cause });
}

/**
 * Makes a folder (or finds it made) and checks that it is one: a real directory, not a
 * symlink or anything else someone put there. A folder made here is made under a name of
 * its own, given `mode` through its descriptor and only then renamed into place: nobody
 * ever sees it with the mode mkdir and the umask gave it (another user listing a lock
 * folder made 0700 a moment earlier got EACCES). A rename onto a folder someone made
 * meanwhile fails when theirs holds records (and replaces it when it is still empty,
 * which changes nothing: every use goes by path); theirs is then used.
 */
function makeFolder(dir: string, mode: number): void {
  if (!lstatOrUndefined(dir)) {
    const suffix = `.${process.pid}-${threadId}-${randomBytes(4).toString("hex")}.tmp`;
    // Named after the folder where that fits NAME_MAX; a folder whose own name is near it
    // (a long file name) gets a short one, or mkdir fails with ENAMETOOLONG.
    const tmp = Buffer.byteLength(basename(dir) + suffix) <= NAME_MAX ? `${dir}${suffix}` : join(dirname(dir), `.h5ts${suffix}`);
    mkdirSync(tmp, 0o700); // ENOENT (no parent) and EACCES go to the caller, as before
    try {
      const fd = openSync(tmp, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
      try {
        fchmodSync(fd, mode);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, dir);
    } catch (e) {
      try {
        rmdirSync(tmp);
      } catch {
        // renamed into place after all, or gone
      }
      if (!lstatOrUndefined(dir)) throw e; // not someone else's folder in the way: a real failure
    }
  }
  if (!lstatSync(dir).isDirectory()) throw notAFolder(dir);
}

function lstatOrUndefined(path: string) {
  return lstatSync(path, { throwIfNoEntry: false }); // ENOENT without the cost of an exception; other errors thrown
}

/**
 * Creates a lock folder. Fails with H5TSError ENOLOCKDIR (with the system error as cause)
 * when that is not possible. In the host's shared fallback folder, lock folders are open
 * to every user (and sticky), as the records of all users of a file must meet there.
 */
export function makeLockDir(dir: string): void {
  const shared = inHostFolder(dir);
  try {
    // The host's folder must be what it claims (a real, sticky folder) before anything is made in it.
    if (shared) makeFallbackRoot();
    makeFolder(dir, shared ? SHARED_FOLDER_MODE : FOLDER_MODE);
  } catch (e) {
    if (e instanceof H5TSError) throw e;
    throw lockDirError(dir, String((e as NodeJS.ErrnoException).code), e);
  }
}

/**
 * Creates the host's fallback folder, sticky and writable by all, as /tmp is. One that
 * another user made otherwise (not writable by all, or not sticky) cannot be shared
 * safely: ENOLOCKDIR.
 */
export function makeFallbackRoot(): void {
  try {
    makeFolder(FALLBACK_ROOT, SHARED_FOLDER_MODE);
  } catch (e) {
    if (e instanceof H5TSError) throw e;
    throw lockDirError(FALLBACK_ROOT, String((e as NodeJS.ErrnoException).code), e);
  }
  const st = statSync(FALLBACK_ROOT);
  if ((st.mode & SHARED_FOLDER_MODE) !== SHARED_FOLDER_MODE && st.uid !== process.getuid?.()) {
    throw lockDirError(FALLBACK_ROOT, `made by uid ${st.uid} with mode ${(st.mode & 0o7777).toString(8)}, not 1777: it cannot be shared safely`);
  }
}

// The name a folder is made under before it is renamed into place (makeFolder): a process
// killed in between leaves it, empty.
const TEMPORARY = /\.\d+-\d+-[0-9a-f]{8}\.tmp$/;

/**
 * Removes the temporary folders that a making of `dir` left behind (its creator killed
 * between mkdir and rename), once older than `minAgeMs`: a young one may still be on its
 * way into place. Only empty real folders go (rmdir); returns how many.
 */
export function removeLeftTemporaries(dir: string, minAgeMs = 60_000): number {
  const parent = dirname(dir);
  const prefixes = [`${basename(dir)}.`, ".h5ts."];
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return 0;
  }
  let n = 0;
  for (const name of names) {
    if (!TEMPORARY.test(name) || !prefixes.some((p) => name.startsWith(p))) continue;
    try {
      const st = lstatSync(join(parent, name));
      if (!st.isDirectory() || Date.now() - st.mtimeMs < minAgeMs) continue;
      rmdirSync(join(parent, name));
      n++;
    } catch {
      // Not empty, not ours to remove, or gone: left as it is.
    }
  }
  return n;
}

/** Removes a lock folder now if it is empty (others hold or wait: then it stays). */
export function removeIfEmpty(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // Not empty, or gone already: both fine.
  }
}

/**
 * The names of the regular files in a lock folder (nothing else there can be a record);
 * none when it does not exist, or its path is too long to exist (PATH_MAX: nobody's
 * records are there). A folder that may well not exist is checked first (`oftenMissing`):
 * a readdir that throws costs more than the check.
 */
export function listNames(dir: string, oftenMissing = false): string[] {
  if (oftenMissing && isMissing(dir)) return [];
  try {
    // Names only: asked for types, Node stats each entry where the file system does not
    // store them (NFS, XFS without ftype), and one removed meanwhile failed the whole
    // listing (ENOENT), which read as an empty folder. What is not a regular file is not
    // read as a record anyway (readRecordFile).
    return readdirSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENAMETOOLONG") return [];
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

/**
 * Creates a record (empty: waiting); returns its open descriptor, for mark(). Never in a
 * folder that is not a real directory: through a symlink put in its place (in the fallback
 * folder, by the user who owns that), the record would land wherever it points.
 */
export function createRecord(dir: string, name: string): number {
  const st = lstatOrUndefined(dir); // none: the open below fails with ENOENT, and the caller makes the folder
  if (st && !st.isDirectory()) throw notAFolder(dir);
  const fd = openSync(join(dir, name), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, RECORD_MODE);
  try {
    fchmodSync(fd, RECORD_MODE); // the umask must not hide it from other users
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return fd;
}

/**
 * A record of this thread's own. Its descriptor is kept open while it may be (a mark is
 * then one write); a thread holding many files lets the descriptors of most of them go
 * (letDescriptorGo), and their records are then written through their path, checked to
 * still name the file this thread made (its device and inode).
 */
export interface RecordFile {
  dir: string;
  name: string;
  fd: number | undefined;
  dev?: number;
  ino?: number;
}

/** Writes where a record of this thread stands. */
export function mark(r: RecordFile, state: RecordState): void {
  if (r.fd !== undefined) {
    writeSync(r.fd, STATE_BYTES[state], 0, 1, 0);
    return;
  }
  const fd = openSync(join(r.dir, r.name), constants.O_WRONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (st.ino !== r.ino || st.dev !== r.dev) throw Object.assign(new Error(`${r.name} was replaced`), { code: "ENOENT" });
    writeSync(fd, STATE_BYTES[state], 0, 1, 0);
  } finally {
    closeSync(fd);
  }
}

/** Closes the record's descriptor, keeping what its path must name (see RecordFile). */
export function letDescriptorGo(r: RecordFile): void {
  if (r.fd === undefined) return;
  const fd = r.fd;
  try {
    const st = fstatSync(fd);
    r.dev = st.dev;
    r.ino = st.ino;
  } catch {
    return; // kept: without its identity it could not be written safely
  }
  r.fd = undefined;
  closeSync(fd);
}

/** Closes the record's descriptor, if it has one; never throws. */
export function closeRecord(r: RecordFile): void {
  if (r.fd === undefined) return;
  const fd = r.fd;
  r.fd = undefined;
  try {
    closeSync(fd);
  } catch {
    // Closed already: nothing to give back. (Never thrown into a timer or an exit hook.)
  }
}

const stateBuffer = Buffer.alloc(2);

/** Whether nothing is at `dir` (cheaper than a failed listing); an error that says nothing of it is thrown. */
function isMissing(dir: string): boolean {
  try {
    return lstatOrUndefined(dir) === undefined;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOTDIR") return true; // a file where a folder above it should be: nothing in it
    throw e;
  }
}

/**
 * Where a record stands now; undefined once it is gone, and for anything that is not a
 * record as this package writes them: opened without following a symlink or blocking on a
 * FIFO, a regular file of at most one byte, of which at most two are read.
 */
export function readState(r: LockRecord): RecordState | undefined {
  return readRecordFile(r)?.state;
}

// Why a record could not be opened that means it is gone, or not a record: anything else
// (out of descriptors, memory, an I/O error) says nothing of it, and is thrown.
const NOT_A_RECORD = new Set(["ENOENT", "ENOTDIR", "ELOOP", "ENXIO", "EACCES", "EPERM", "ENAMETOOLONG"]);

/**
 * readState, and the uid that owns the record file (who made it). Throws where it cannot
 * tell (EMFILE...): read as gone, a holder's record would let its conflict in.
 */
export function readRecordFile(r: LockRecord): { state: RecordState; uid: number } | undefined {
  let fd: number;
  try {
    fd = openSync(join(r.dir, r.name), constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  } catch (e) {
    if (NOT_A_RECORD.has((e as NodeJS.ErrnoException).code ?? "")) return undefined;
    throw e;
  }
  try {
    // An error here (EIO, ENOMEM) says nothing of the record either: thrown.
    const st = fstatSync(fd);
    if (!st.isFile() || st.size > 1) return undefined;
    const n = readSync(fd, stateBuffer, 0, 2, 0);
    const state = stateOfContent(stateBuffer.toString("latin1", 0, n));
    return state && { state, uid: st.uid };
  } finally {
    closeSync(fd);
  }
}

/**
 * Removes a record; false when it was gone already, or is not ours to remove (another
 * user's, in a sticky folder): a record whose owner is gone is ignored then, never an
 * error for the opener. Given the record's open descriptor (`fd`: one of this thread's
 * own), only while its path still names that file: a folder swapped since for a symlink
 * (or another folder) holding a file of the same name loses nothing through it.
 */
export function removeRecord(dir: string, name: string, own?: RecordFile): boolean {
  const path = join(dir, name);
  try {
    if (own) {
      const made = own.fd !== undefined ? fstatSync(own.fd) : own;
      const there = lstatSync(path);
      if (made.ino !== there.ino || made.dev !== there.dev) return false;
    }
    unlinkSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Refreshes a record's heartbeat (its mtime); the error where it could not (a record that is gone has nothing to keep fresh). */
export function touchRecord(dir: string, name: string): NodeJS.ErrnoException | undefined {
  const now = new Date();
  try {
    lutimesSync(join(dir, name), now, now); // never through a symlink put in a record's place
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") return e as NodeJS.ErrnoException;
  }
  return undefined;
}

/** How long ago a record's heartbeat was refreshed; undefined once it is gone. */
export function recordAgeMs(r: LockRecord): number | undefined {
  try {
    return Date.now() - statSync(join(r.dir, r.name)).mtimeMs;
  } catch (e) {
    // Gone; anything else (EIO, ETIMEDOUT on NFS) cannot tell: fresh, never reaped for it.
    return (e as NodeJS.ErrnoException).code === "ENOENT" ? undefined : 0;
  }
}
