// The native layer: flock(2) on the HDF5 data file itself, the lock that native HDF5
// programs (h5py, PyTables, h5dump, C) take, so that they and Node exclude each other.
// h5wasm's own flock calls are stubs in the Emscripten build: without this layer a Node
// writer and a native writer can use one file at once. This module is self-contained
// (node built-ins and, optionally, koffi); the lock calls it once its record lock is
// granted, and releases it with the record lock.
//
// ---------------------------------------------------------------------------------------
// What native HDF5 does, as read in the HDF5 1.10.8 source (Debian bookworm's
// libhdf5, the one h5py 3.7 and h5dump use here):
//
// - src/H5FDsec2.c, H5FD__sec2_lock(file, rw): flock(fd, (rw ? LOCK_EX : LOCK_SH) | LOCK_NB)
//   on the driver's own descriptor; never blocks. On failure "unable to lock file"
//   with errno (EWOULDBLOCK = EAGAIN = 11 on Linux), unless errno is ENOSYS and
//   "ignore disabled file locks" is on (then the open goes on unlocked).
//   H5FD__sec2_unlock: flock(fd, LOCK_UN). Closing the descriptor releases it as well.
// - src/H5Fint.c, H5F_open(): rw = (flags & H5F_ACC_RDWR), so
//     r (RDONLY), SWMR read (RDONLY|SWMR_READ)            -> LOCK_SH
//     r+ / a (RDWR), w (RDWR|CREAT|TRUNC), x (RDWR|CREAT|EXCL) -> LOCK_EX
//     SWMR write (RDWR|SWMR_WRITE)                         -> LOCK_EX during the open,
//       then, once the superblock status flags are written and flushed,
//       "Remove the file lock for SWMR_WRITE": H5FD_unlock, so a SWMR writer holds
//       nothing afterwards. H5F__start_swmr_write() (h5py's f.swmr_mode = True) does the
//       same on an open RDWR file: unlock, LOCK_EX again, flush, then unlock in `done:`.
//   The lock is taken AFTER the file is opened with its final flags: the sec2 driver
//   has a `cmp` callback, so H5F_open first opens tentatively without CREAT/TRUNC/EXCL,
//   closes that, reopens with the full flags (H5FDsec2.c H5FD__sec2_open: O_TRUNC for
//   H5F_ACC_TRUNC), and only then calls H5FD_lock. A native `w` therefore truncates a
//   file that another process holds locked and only then fails with "unable to lock
//   file" (measured: see test/native-flock.test.ts). Our `w` locks before h5wasm opens.
// - Where HDF5 looks for the switch: H5Fint.c H5F__parse_file_lock_env_var():
//   HDF5_USE_FILE_LOCKING = "FALSE" or "0" -> no locks at all; "TRUE", "1" or
//   "BEST_EFFORT" -> locks; anything else (unset, "false", "no", ...) -> the file access
//   property list decides (H5Pset_file_locking; default from configure, which is
//   --enable-file-locking=best-effort: locks on, ENOSYS ignored). The comparison is an
//   exact strcmp: lower-case "false" does NOT turn HDF5's locking off, so it does not
//   turn ours off either. H5FDsec2.c H5FD__init_package(): "BEST_EFFORT" -> ignore
//   ENOSYS, "TRUE"/"1" -> do not ignore it. The env var overrides H5Pset_file_locking.
//   (BEST_EFFORT and H5Pset_file_locking are in 1.10.8; older releases, not read here,
//   may parse the variable differently.)
//
// nativePlan below maps h5wasm modes as HDF5 does, for reference and the measurements in
// bench/native-flock-table.ts: r, Sr -> shared; a, w -> exclusive, taken BEFORE h5wasm
// opens (w truncates); x -> exclusive, right AFTER h5wasm created the file (before, it
// would need creating the file, which makes x fail; HDF5 has the same window); Sa ->
// exclusive while opening, then dropped. The lock layer (gate.ts) takes the same, except
// that a SWMR writer takes none at all (not even during its open), as the design asks: a
// SWMR writer must be able to open beside SWMR readers.
// Switches: HDF5_USE_FILE_LOCKING=FALSE|0 (HDF5's own), H5TS_NATIVE_LOCK=0|false|off
// (ours), and the `enabled: false` option. Where koffi cannot be loaded (another
// platform, `npm install --omit=optional`) or the platform has no flock (Windows: HDF5
// uses LockFileEx there), the layer is off: said once per thread with
// NODE_DEBUG=h5-threadsafe, and readable through nativeLocking().reason.
//
// The lock lives on a descriptor of our own (opened here with node:fs, O_NONBLOCK so a
// FIFO cannot hang us, close-on-exec as every libuv descriptor, so child processes do
// not inherit it), open exactly as long as the lock. flock locks belong to the open
// file description: two descriptors of one process conflict like two processes do, and
// h5wasm's own descriptor carries no lock at all.
// ---------------------------------------------------------------------------------------

import { closeSync, constants as fsc, fstatSync, openSync, readFileSync, statSync, unlinkSync } from "node:fs";
import { constants as osc } from "node:os";
import { debuglog } from "node:util";
import { libcFailure, loadLibc, type Libc } from "../process/libc.js";

const debug = debuglog("h5-threadsafe");

export type FlockKind = "shared" | "exclusive";

export interface NativeLockingState {
  enabled: boolean;
  /** Why the layer is off; undefined when it is on. */
  reason?: string;
  /** The binding in use when on. */
  backend?: "koffi";
}

export interface NativeLockingOptions {
  /** false turns the layer off (as H5TS_NATIVE_LOCK=0); true or undefined: env decides. */
  enabled?: boolean;
}

// Linux, macOS and the BSDs share these values (<sys/file.h>).
const LOCK_SH = 1;
const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;

const EWOULDBLOCK = osc.errno.EWOULDBLOCK ?? osc.errno.EAGAIN;
const EAGAIN = osc.errno.EAGAIN;
const EINTR = osc.errno.EINTR;

let saidOff = false;

/** HDF5's own switch, parsed exactly as H5F__parse_file_lock_env_var does. */
export function hdf5LockingEnv(): "off" | "on" | "unset" {
  const v = process.env.HDF5_USE_FILE_LOCKING;
  if (v === "FALSE" || v === "0") return "off";
  if (v === "TRUE" || v === "1" || v === "BEST_EFFORT") return "on";
  return "unset";
}

/**
 * Whether a file system without flock (ENOSYS, e.g. Lustre mounted without flock) is
 * ignored, as HDF5 does (H5FDsec2.c H5FD__init_package + H5FD__sec2_lock): yes unless
 * HDF5_USE_FILE_LOCKING is exactly "TRUE" or "1" (the configure default, best-effort,
 * ignores it; Debian's build uses that default).
 */
export function ignoresDisabledLocks(): boolean {
  const v = process.env.HDF5_USE_FILE_LOCKING;
  return !(v === "TRUE" || v === "1");
}

/** Our own switch: H5TS_NATIVE_LOCK=0|false|off|no turns the layer off. */
function ourEnvOff(): boolean {
  const v = process.env.H5TS_NATIVE_LOCK;
  return v !== undefined && ["0", "false", "off", "no"].includes(v.trim().toLowerCase());
}

/**
 * Whether the native layer is on for this thread, and if not, why. Reads the
 * environment on every call (cheap); loads koffi once per thread, on first need.
 */
export function nativeLocking(options: NativeLockingOptions = {}): NativeLockingState {
  let reason: string | undefined;
  if (options.enabled === false) reason = "turned off by the nativeLock option";
  else if (ourEnvOff()) reason = `turned off by H5TS_NATIVE_LOCK=${process.env.H5TS_NATIVE_LOCK}`;
  else if (hdf5LockingEnv() === "off") reason = `turned off by HDF5_USE_FILE_LOCKING=${process.env.HDF5_USE_FILE_LOCKING}`;
  else if (loadLibc() === null) reason = libcFailure();
  if (reason === undefined) return { enabled: true, backend: "koffi" };
  if (!saidOff) {
    saidOff = true;
    debug("native flock layer off: %s; native HDF5 programs are not excluded", reason);
  }
  return { enabled: false, reason };
}

function errnoName(n: number): string {
  for (const [name, value] of Object.entries(osc.errno)) if (value === n) return name;
  return `errno ${n}`;
}

function flockError(op: string, fd: number, errno: number): Error {
  const code = errnoName(errno);
  return Object.assign(new Error(`flock(${fd}, ${op}) failed: ${code}`), { code, errno, syscall: "flock" });
}

function requireBinding(): Libc {
  const b = loadLibc();
  if (b === null) throw Object.assign(new Error(`native flock unavailable: ${libcFailure()}`), { code: "ENOTSUP" });
  return b;
}

/**
 * Non-blocking flock on `fd`: true = taken (or converted), false = another open file
 * description holds a conflicting lock (EWOULDBLOCK). Throws on any other error, with
 * `code` set to the errno name (ENOLCK on some NFS setups, EBADF, ENOSYS...).
 * Beware conversions: a failed SH -> EX conversion has already dropped the SH lock
 * (flock(2): conversion is not atomic). Only ever relax a held lock.
 */
export function tryFlock(fd: number, kind: FlockKind): boolean {
  const b = requireBinding();
  const op = (kind === "exclusive" ? LOCK_EX : LOCK_SH) | LOCK_NB;
  for (;;) {
    if (b.flock(fd, op) === 0) return true;
    const e = b.errno();
    if (e === EWOULDBLOCK || e === EAGAIN) return false;
    if (e === EINTR) continue;
    throw flockError(kind === "exclusive" ? "LOCK_EX|LOCK_NB" : "LOCK_SH|LOCK_NB", fd, e);
  }
}

/** flock(fd, LOCK_UN). Closing the descriptor releases the lock as well. */
export function unflock(fd: number): void {
  const b = requireBinding();
  for (;;) {
    if (b.flock(fd, LOCK_UN) === 0) return;
    const e = b.errno();
    if (e === EINTR) continue;
    throw flockError("LOCK_UN", fd, e);
  }
}

// ---------------------------------------------------------------------------------------
// Who holds a native lock: /proc/locks (Linux).

export interface NativeHolder {
  /** 0 when the holder is not visible from this PID namespace (or already gone). */
  pid: number;
  /** From /proc/<pid>/comm; "?" when it cannot be read (other namespace, gone, hidepid). */
  command: string;
  mode: FlockKind;
  /** The holder is this process (another thread's lock, or our own descriptor). */
  self: boolean;
}

/** st_dev (the user-space encoding glibc's major()/minor() decode) as /proc/locks prints it. */
function devString(dev: bigint): string {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  const hex2 = (n: bigint) => n.toString(16).padStart(2, "0");
  return `${hex2(major)}:${hex2(minor)}`;
}

function readComm(pid: number): string {
  if (!(pid > 0)) return "?";
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").replace(/\n$/, "") || "?";
  } catch {
    return "?";
  }
}

/**
 * Parses /proc/locks text into the FLOCK holders of `dev:ino` ("fe:00:2146407").
 * Exported for tests; never throws, skips any line it does not understand, and
 * skips blocked requests ("-> FLOCK ...": waiting, not holding).
 */
export function parseProcLocks(text: string, devIno: string): { pid: number; mode: FlockKind }[] {
  const out: { pid: number; mode: FlockKind }[] = [];
  const [wantDev, wantIno] = splitDevIno(devIno);
  if (wantDev === undefined) return out;
  for (const line of text.split("\n")) {
    // "1: FLOCK  ADVISORY  WRITE 5921 fe:00:2146407 0 EOF"
    const f = line.trim().split(/\s+/);
    if (f.length < 6 || f[1] !== "FLOCK") continue;
    const mode = f[3] === "WRITE" ? "exclusive" : f[3] === "READ" ? "shared" : undefined;
    if (mode === undefined) continue;
    if (!/^\d+$/.test(f[4])) continue;
    const [dev, ino] = splitDevIno(f[5]);
    if (dev !== wantDev || ino !== wantIno) continue;
    const pid = Number(f[4]);
    if (!Number.isSafeInteger(pid)) continue;
    out.push({ pid, mode });
  }
  return out;
}

/** "fe:00:2146407" -> ["fe:00", "2146407"], normalising hex case and leading zeros. */
function splitDevIno(s: string): [string | undefined, string | undefined] {
  const m = /^([0-9a-fA-F]+):([0-9a-fA-F]+):(\d+)$/.exec(s);
  if (!m) return [undefined, undefined];
  const hex2 = (h: string) => parseInt(h, 16).toString(16).padStart(2, "0");
  return [`${hex2(m[1])}:${hex2(m[2])}`, BigInt(m[3]).toString()];
}

/** The dev:ino of a path as /proc/locks prints it; undefined when it cannot be stat'ed. */
export function procLocksKey(path: string): string | undefined {
  try {
    const st = statSync(path, { bigint: true });
    return `${devString(st.dev)}:${st.ino}`;
  } catch {
    return undefined;
  }
}

/**
 * The processes holding flock(2) on `path` (its inode), from /proc/locks. Empty where
 * there is no /proc/locks (not Linux) or the path cannot be stat'ed; never throws.
 * Includes this process's own locks (self: true). flock records the pid of the process
 * that took the lock: after a fork, a child that inherited the descriptor holds the
 * lock under its parent's pid (shown as 0 once the parent is gone).
 */
export function nativeHolders(path: string): NativeHolder[] {
  const key = procLocksKey(path);
  if (key === undefined) return [];
  let text: string;
  try {
    text = readFileSync("/proc/locks", "latin1");
  } catch {
    return [];
  }
  return parseProcLocks(text, key).map(({ pid, mode }) => ({ pid, mode, command: readComm(pid), self: pid === process.pid }));
}

/** "python3 (pid 1234) exclusive, h5dump (pid 99) shared", for messages. */
export function describeHolders(holders: NativeHolder[]): string {
  if (holders.length === 0) return "an unknown process (not listed in /proc/locks)";
  return holders
    .map((h) => `${h.command} (${h.pid > 0 ? `pid ${h.pid}` : "pid not visible here"}) ${h.mode}`)
    .join(", ");
}

// ---------------------------------------------------------------------------------------
// Per open: which lock, when, on which descriptor.

export type H5Mode = "r" | "a" | "w" | "x" | "Sr" | "Sa";

export interface NativePlan {
  kind: FlockKind;
  /** "before-open": lock, then let h5wasm open. "after-create": x, lock once h5wasm
   *  created the file (it must not exist before). */
  when: "before-open" | "after-create";
  /** false for Sa: drop the lock once h5wasm's open succeeded, as HDF5 does. */
  keepAfterOpen: boolean;
  /** w: create the file (empty, 0666 & ~umask like HDF5) so it can be locked before
   *  h5wasm truncates it. */
  create: boolean;
}

/** HDF5's own choice of lock for an h5wasm mode (see the comment at the top; gate.ts differs for Sa). */
export function nativePlan(mode: H5Mode): NativePlan {
  switch (mode) {
    case "r":
    case "Sr":
      return { kind: "shared", when: "before-open", keepAfterOpen: true, create: false };
    case "a":
      return { kind: "exclusive", when: "before-open", keepAfterOpen: true, create: false };
    case "w":
      return { kind: "exclusive", when: "before-open", keepAfterOpen: true, create: true };
    case "x":
      return { kind: "exclusive", when: "after-create", keepAfterOpen: true, create: false };
    case "Sa":
      return { kind: "exclusive", when: "before-open", keepAfterOpen: false, create: false };
    default:
      throw new TypeError(`unknown h5wasm mode ${JSON.stringify(mode)}`);
  }
}

/**
 * A flock on a descriptor of our own. Create with NativeFileLock.open(), poll
 * tryAcquire() until it returns true (or give up), and close() it exactly when the
 * record lock is released. close() is idempotent and never throws.
 */
export class NativeFileLock {
  #fd: number;
  #kind: FlockKind | "none";
  #held = false;
  #unsupported: string | undefined;
  // Once HDF5 has been given the descriptor (handOver), it is HDF5's: it closes it (which
  // lets the flock go), and the number may then name another file. Touched only while
  // `#stillOpen()` says HDF5 has it open.
  #stillOpen: (() => boolean) | undefined;

  private constructor(
    fd: number,
    kind: FlockKind,
    readonly path: string,
    /** This open created the file (w on a missing file): the caller may remove it if
     *  h5wasm's open then fails and the file is still empty. */
    readonly created: boolean,
    /** The file the descriptor is open on (st_dev, st_ino). */
    readonly dev: number,
    readonly ino: number,
    /** Open for reading and writing (else read only): which opens of HDF5 it can serve. */
    readonly writable: boolean,
  ) {
    this.#fd = fd;
    this.#kind = kind;
  }

  /**
   * Opens a descriptor for locking `path` in `kind`. Returns { lock } or { reason }
   * when nothing can be locked: layer off, file missing (r/a/Sa/x: h5wasm then fails
   * or creates as it always did), not a regular file, or the open failed (EACCES,
   * EMFILE...). Never throws for those; the reason is for the caller to report.
   */
  static open(
    path: string,
    kind: FlockKind,
    options: NativeLockingOptions & {
      create?: boolean;
      writable?: boolean;
      /** What a stat of `path` made just now found there: a regular file needs no fstat of the descriptor. */
      found?: { dev: number; ino: number; regular: boolean };
    } = {},
  ): { lock: NativeFileLock; reason?: undefined } | { lock?: undefined; reason: string; code?: string } {
    const state = nativeLocking(options);
    if (!state.enabled) return { reason: state.reason ?? "off" };
    let fd: number;
    let created = false;
    // flock needs no write access; a writer's descriptor is opened for writing so that
    // HDF5 can be given it (lend): one descriptor per open file, as bare h5wasm has.
    let base = (options.writable ? fsc.O_RDWR : fsc.O_RDONLY) | fsc.O_NONBLOCK;
    try {
      try {
        fd = openSync(path, base);
      } catch (err) {
        if (!options.writable || !READ_ONLY_WILL_DO.has((err as NodeJS.ErrnoException).code ?? "")) throw err;
        base = fsc.O_RDONLY | fsc.O_NONBLOCK; // locked all the same; HDF5 opens its own (and fails as it would)
        fd = openSync(path, base);
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" || !options.create) return { reason: `cannot open ${path} for locking: ${code ?? err}`, code };
      try {
        fd = openSync(path, base | fsc.O_CREAT | fsc.O_EXCL, 0o666);
        created = true;
      } catch (err2) {
        const code2 = (err2 as NodeJS.ErrnoException).code;
        if (code2 !== "EEXIST") return { reason: `cannot create ${path} for locking: ${code2 ?? err2}`, code: code2 };
        try {
          fd = openSync(path, base); // someone else created it in between
        } catch (err3) {
          const code3 = (err3 as NodeJS.ErrnoException).code;
          return { reason: `cannot open ${path} for locking: ${code3 ?? err3}`, code: code3 };
        }
      }
    }
    if (options.found?.regular && !created) {
      const { dev, ino } = options.found;
      return { lock: new NativeFileLock(fd, kind, path, created, dev, ino, (base & fsc.O_RDWR) !== 0) };
    }
    let st;
    try {
      st = fstatSync(fd);
      if (!st.isFile()) {
        closeSync(fd);
        return { reason: `${path} is not a regular file` };
      }
    } catch (err) {
      try { closeSync(fd); } catch { /* already closed */ }
      const code = (err as NodeJS.ErrnoException).code;
      return { reason: `cannot stat ${path}: ${code ?? err}`, code };
    }
    return { lock: new NativeFileLock(fd, kind, path, created, st.dev, st.ino, (base & fsc.O_RDWR) !== 0) };
  }

  get fd(): number {
    return this.#fd;
  }

  /**
   * Gives the descriptor to its new owner (HDF5, see h5wasm/handover.ts), who closes it.
   * `stillOpen` tells whether the owner has it open still: until then the lock can be
   * relaxed or let go through it; afterwards nothing is done with the number.
   */
  handOver(stillOpen: () => boolean): void {
    this.#stillOpen = stillOpen;
  }

  /** Given to HDF5 (handOver): not to be kept for reuse. */
  get handedOver(): boolean {
    return this.#stillOpen !== undefined;
  }

  /** The descriptor, while it is ours or its owner still has it open; -1 otherwise. */
  #usable(): number {
    if (this.#fd >= 0 && this.#stillOpen && !this.#stillOpen()) {
      this.#fd = -1; // closed by its owner: the flock went with it
      this.#held = false;
    }
    return this.#fd;
  }
  get kind(): FlockKind | "none" {
    return this.#kind;
  }
  get held(): boolean {
    return this.#held;
  }

  /** One non-blocking attempt; true once held. Throws on errors other than EWOULDBLOCK. */
  tryAcquire(): boolean {
    if (this.#fd < 0) throw new Error("NativeFileLock is closed");
    if (this.#held || this.#kind === "none") return true;
    try {
      this.#held = tryFlock(this.#fd, this.#kind);
    } catch (err) {
      // As HDF5's best effort: flock disabled on this file system is no error. (Not
      // exercised by the tests: no such file system here.)
      if ((err as NodeJS.ErrnoException).code !== "ENOSYS" || !ignoresDisabledLocks()) throw err;
      this.#unsupported = `flock is not supported on the file system of ${this.path} (ENOSYS)`;
      debug("native flock layer: %s; going on without it, as HDF5 does", this.#unsupported);
      this.#kind = "none";
      this.#held = true;
    }
    return this.#held;
  }

  /** Set when flock returned ENOSYS and was ignored (HDF5's best effort): nothing is held. */
  get unsupported(): string | undefined {
    return this.#unsupported;
  }

  /** The native holders in the way (other descriptors; our own is left out). */
  holders(): NativeHolder[] {
    const all = nativeHolders(this.path);
    // Our own descriptor shows as our pid; other threads of this process do too, and
    // cannot be told apart in /proc/locks. Leave out one entry of ours when we hold.
    if (this.#held) {
      const i = all.findIndex((h) => h.self && h.mode === this.#kind);
      if (i >= 0) all.splice(i, 1);
    }
    return all;
  }

  /**
   * Relaxes a held lock: "shared" (exclusive -> shared, e.g. the w handle closed and
   * only Sr handles remain) or "none" (Sa once opened, start_swmr_write). A downgrade
   * cannot conflict; an upgrade is refused (a failed conversion would drop the lock).
   */
  relax(to: "shared" | "none"): void {
    if (this.#usable() < 0 || !this.#held || this.#kind === "none") return;
    if (to === "none") {
      unflock(this.#fd);
      this.#kind = "none";
      return;
    }
    if (this.#kind !== "exclusive") return;
    if (!tryFlock(this.#fd, "shared")) {
      // Cannot happen on Linux (the conversion is done under one spinlock); if it ever
      // does, the lock is gone: say so rather than pretend.
      this.#held = false;
      throw Object.assign(new Error(`flock downgrade of ${this.path} lost the lock`), { code: "ELOCKLOST" });
    }
    this.#kind = "shared";
  }

  /** Lets the lock go but keeps the descriptor, to be taken again (in `kind`) by tryAcquire(). */
  unlock(kind: FlockKind): void {
    if (this.#fd < 0) throw new Error("NativeFileLock is closed");
    if (this.#stillOpen) throw new Error("NativeFileLock was handed over");
    if (this.#held && this.#kind !== "none") unflock(this.#fd);
    this.#held = false;
    this.#kind = kind;
  }

  /** Releases the lock and closes the descriptor. Idempotent, never throws. */
  close(): void {
    const fd = this.#usable();
    if (fd < 0) return;
    this.#fd = -1;
    const held = this.#held && this.#kind !== "none";
    this.#held = false;
    if (this.#stillOpen) {
      // HDF5 still has the file open (an object of it left open): it keeps the descriptor, without the lock.
      try {
        if (held) unflock(fd);
      } catch (err) {
        debug("unlocking native lock descriptor %d of %s: %s", fd, this.path, (err as Error).message);
      }
      return;
    }
    try {
      closeSync(fd); // closing the last descriptor of the open file description unlocks
    } catch (err) {
      debug("closing native lock descriptor %d of %s: %s", fd, this.path, (err as Error).message);
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

// A writer's descriptor opened read-only instead: flock works on it, and HDF5's own open
// then fails for the same reason, as with bare h5wasm.
const READ_ONLY_WILL_DO = new Set(["EACCES", "EROFS", "EPERM", "ETXTBSY"]);

/** Removes a file that this layer created empty (for `w`) when h5wasm's open then failed. */
export function removeEmptyFile(path: string): void {
  try {
    if (statSync(path).size === 0) unlinkSync(path);
  } catch {
    // Gone, or not ours to remove: fine.
  }
}
