// The open-file table of one thread, in the spirit of PyTables' _FileRegistry: every HDF5
// handle opened through the lock (by file id), the file it belongs to (by canonical path),
// and the thread's lock on that file, which all the file's handles share and which needs
// what HDF5 has open (docs/architecture.md, "A thread's lock on a file"). registry() is its
// public face; the rest is for the h5wasm adapter.

import * as h5 from "h5wasm/node";
import { debug } from "./debug.js";
import { H5TSError, LockTimeoutError, aLock } from "./errors.js";
import { lockModeOf, reopenAccepted } from "./h5wasm/access.js";
import type { HeldLock } from "./lock/held-lock.js";
import { combine, covers, relaxes, type LockMode } from "./lock/modes.js";
import { lockOptions, type LockOptions } from "./lock/options.js";
import { canonicalPath, resolvePath, sameFile, type FileIdentity } from "./lock/path.js";
import { removeEmptyFile } from "./native/flock.js";
import { Acquisition } from "./lock/wait.js";
import type { NativeFileLock } from "./native/flock.js";
import { dataFileGate, flockKindOf, lockCreated, releaseDataFileLock, type DataFileGate } from "./native/gate.js";
import { countOpenThread } from "./process/signals.js";

export type H5File = InstanceType<typeof h5.File>;

/** This thread's open HDF5 files, as PyTables' registry shows them. */
export interface FileRegistry {
  /** The open File objects (a copy). */
  readonly handlers: Set<H5File>;
  /** The names the open files were opened with, each once. */
  readonly filenames: string[];
  readonly size: number;
  /** Whether a file is open, by any name that leads to it. */
  has(filename: string): boolean;
  getHandlersByName(filename: string): Set<H5File>;
  /** Closes every open file; each close is tried, and the first error is thrown after. */
  closeAll(): void;
}

/** One handle's share of its thread's lock on a file: taken before HDF5 opens, bound to the handle once it has. */
export class Share {
  /** Set once HDF5 has opened the handle. */
  fileId: bigint | undefined;
  filename = "";
  /** The h5wasm mode string the handle was opened with. */
  mode = "";
  /** The user's File object, once known (else made on demand). */
  file: H5File | undefined;
  #done = false;

  constructor(
    readonly table: OpenFiles,
    readonly path: string,
    /** The lock mode this handle needs. */
    public lock: LockMode,
  ) {}

  /**
   * The handle is closed (or never opened: `failed`, and then nothing of the lock is left
   * behind at once). Gives up its share. Safe to call twice.
   */
  release(failed = false): void {
    if (this.#done) return;
    this.#done = true;
    this.table.drop(this, failed);
  }
}

/** A request for a share: the file's canonical path, the lock and h5wasm mode the new handle needs. */
export interface ShareRequest {
  path: string;
  lock: LockMode;
  mode: string;
  options?: Partial<LockOptions>;
  /** Explicit API: refuse a reopen that HDF5 would refuse (EREOPEN), instead of letting HDF5 refuse it. */
  strict?: boolean;
  /** The file's identity where it exists (path.ts). */
  id?: FileIdentity;
}

interface OpenFile {
  lock: HeldLock;
  /** The identity of the file when its lock was asked for: another name of it finds it by this. */
  id?: FileIdentity;
  /** The flock on the data file that goes with the lock (none: a SWMR writer, or the native layer off). */
  native?: NativeFileLock;
  shares: Set<Share>;
  /**
   * What HDF5 has open in this thread: all of the thread's handles of a file share one HDF5
   * file object, opened with the access of the first handle (its h5wasm mode here) and kept
   * until the last handle closes; `swmr` once start_swmr_write ran on it. Undefined while
   * no handle is open yet (a lock taken ahead of the open, as openFileAsync does).
   */
  hdf5?: { first: string; swmr: boolean };
}

/** The lock that what HDF5 has open needs: the first open's, and start_swmr_write makes exclusive swmr-write. */
function lockOfHdf5(hdf5: { first: string; swmr: boolean }): LockMode {
  const lock = lockModeOf(hdf5.first)!;
  return hdf5.swmr && lock === "exclusive" ? "swmr-write" : lock;
}

/** A request for a file's lock, with the flock it takes on the data file once granted. */
interface Request {
  acquisition: Acquisition;
  native?: NativeFileLock;
  id?: FileIdentity;
}

/** An asynchronous request of this thread still waiting for a file's lock. */
interface Pending extends Request {
  /** Resolves once it holds, failed (`error`), or was taken over by a synchronous open; never rejects. */
  settled: Promise<void>;
  error?: { error: unknown };
  /** The async opens waiting for it now. */
  waiters: number;
  /** Given up: a lock it still gets is let go at once. */
  abandoned?: boolean;
}

/** `promise`, or the signal's reason as soon as it aborts. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

/** Calls `fn` after `ms` (timers take at most 2^31-1 ms at once); returns what cancels it. */
function after(ms: number, fn: () => void): () => void {
  let timer: NodeJS.Timeout;
  const arm = (left: number) => (timer = setTimeout(() => (left > MAX_TIMER_MS ? arm(left - MAX_TIMER_MS) : fn()), Math.min(left, MAX_TIMER_MS)));
  arm(ms);
  return () => clearTimeout(timer);
}
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The reason a pending asynchronous request ends when a synchronous open takes its place, or every async open gave it up. */
class TakenOver extends Error {}

export class OpenFiles implements FileRegistry {
  readonly #files = new Map<string, OpenFile>();
  readonly #byId = new Map<bigint, Share>();
  readonly #pending = new Map<string, Pending>();

  // --- the thread's lock per file ---

  /**
   * A share of this thread's lock on the file for a new handle, waiting for others where
   * the thread holds nothing yet (never for itself). A reopen joins what HDF5 already has
   * open, which it shares; one that HDF5 refuses in this thread gets a share that changes
   * nothing (HDF5 then refuses it as it always did), or EREOPEN when `strict`.
   */
  claimSync(req: ShareRequest): Share {
    req = this.#byName(req);
    let file = this.#files.get(req.path);
    if (!file) {
      const pending = this.#pending.get(req.path);
      const request = pending ? this.#takeOver(pending, req) : this.#request(req, req.lock);
      file = { lock: request.acquisition.runSync(), native: request.native, id: req.id, shares: new Set() };
      this.#files.set(req.path, file);
    } else if (this.#acceptable(file, req) && !file.hdf5 && !covers(file.lock.mode, req.lock)) {
      const request = this.#retake(file, req);
      try {
        file.lock = request.acquisition.runSync();
      } catch (e) {
        this.#files.delete(req.path); // its lock was let go for the retake: nothing is held now
        throw e;
      }
      file.native = request.native;
    }
    return this.#attach(file, req.path, req.lock);
  }

  /**
   * As claimSync, waiting without blocking the event loop. One request per file and
   * thread: other async opens of the file join it. `signal` gives up this open's wait
   * (rejecting with its reason); the request goes when no open waits for it any more.
   */
  async claim(req: ShareRequest, userSignal?: AbortSignal): Promise<Share> {
    req = this.#byName(req);
    // Each open gives up at its own timeoutMs: the request that several opens join waits
    // without a limit of its own (#startPending), and goes when no open waits for it.
    const started = performance.now();
    const timeout = lockOptions(req.options).timeoutMs;
    const timer = timeout === Infinity ? undefined : new AbortController();
    const stop = timer && after(timeout, () => timer.abort(this.#timedOut(req, started)));
    const signal = timer ? (userSignal ? AbortSignal.any([userSignal, timer.signal]) : timer.signal) : userSignal;
    try {
      for (;;) {
        signal?.throwIfAborted();
        const file = this.#files.get(req.path);
        if (file) {
          if (!this.#acceptable(file, req) || file.hdf5 || covers(file.lock.mode, req.lock)) return this.#attach(file, req.path, req.lock);
          // Held ahead of an open that comes within this turn (openFileAsync opens as soon as
          // it holds), but too weak for this one: look again once that open is done.
          await abortable(new Promise((resolve) => setImmediate(resolve)), signal);
          continue;
        }
        const pending = this.#pending.get(req.path) ?? this.#startPending(req);
        pending.waiters++;
        try {
          await abortable(pending.settled, signal);
        } finally {
          pending.waiters--;
          if (pending.waiters === 0 && signal?.aborted) this.#giveUp(req.path, pending);
        }
        if (pending.error && !(pending.error.error instanceof TakenOver)) throw pending.error.error;
      }
    } catch (e) {
      if (signal?.aborted) this.#dropUnused(req.path);
      throw e;
    } finally {
      stop?.();
    }
  }

  /** The error of an async open whose own timeoutMs has passed. */
  #timedOut(req: ShareRequest, started: number): LockTimeoutError {
    const holders = this.#pending.get(req.path)?.acquisition.holders() ?? [];
    return new LockTimeoutError(req.path, req.lock, holders, performance.now() - started);
  }

  /** Starts this thread's request for the file; once it holds, the lock waits in #files for the opens that join it. */
  #startPending(req: ShareRequest): Pending {
    const request = this.#request({ ...req, options: { ...req.options, timeoutMs: Infinity } }, req.lock);
    const pending: Pending = { ...request, waiters: 0, settled: Promise.resolve() };
    pending.settled = request.acquisition.run().then(
      (lock) => {
        if (this.#pending.get(req.path) !== pending) {
          // Taken over by a synchronous open (which owns the lock now), or given up.
          if (pending.abandoned) this.#letGo(pending);
          return;
        }
        this.#pending.delete(req.path);
        if (this.#files.has(req.path)) {
          request.native?.close();
          lock.release(true);
        } else this.#files.set(req.path, { lock, native: request.native, id: req.id, shares: new Set() });
      },
      (error) => {
        if (this.#pending.get(req.path) === pending) this.#pending.delete(req.path);
        pending.error = { error };
      },
    );
    this.#pending.set(req.path, pending);
    return pending;
  }

  /** Every async open waiting for `pending` gave up: so does the request. */
  #giveUp(path: string, pending: Pending): void {
    if (this.#pending.get(path) !== pending) return;
    this.#pending.delete(path);
    pending.abandoned = true;
    this.#letGo(pending);
  }

  /** Lets go of what an async request holds (its flock first: ours would refuse another), or stops its wait. */
  #letGo(pending: Pending): void {
    const { acquisition } = pending;
    if (acquisition.held) {
      pending.native?.close();
      acquisition.held.release(true);
    } else acquisition.cancel(new TakenOver());
  }

  /** A lock taken for opens that all gave up before joining it: let go. */
  #dropUnused(path: string): void {
    const file = this.#files.get(path);
    if (!file || file.shares.size > 0) return;
    this.#files.delete(path);
    releaseDataFileLock(file.native);
    file.lock.release();
  }

  /**
   * A synchronous open of a file that this thread's asynchronous request still waits for:
   * it must not wait behind it (nothing would move it on while the thread is blocked). It
   * finishes that request itself, or, needing a stronger lock, takes its place in line.
   */
  #takeOver(pending: Pending, req: ShareRequest): Request {
    const { acquisition } = pending;
    const need = combine([acquisition.mode, req.lock])!;
    if (need === acquisition.mode && !acquisition.failed) {
      // Driven to its end by this open (which then waits without the async opens' limits).
      this.#pending.delete(req.path);
      return pending;
    }
    const gate = this.#gate(req, need); // before anything is let go: it may throw (out of descriptors)
    this.#pending.delete(req.path);
    // Its place in line, read before letting go (which ends it: then it has failed).
    const since = acquisition.failed ? undefined : acquisition.since;
    // Holding already (its continuation has not run yet), it lets go first, as #retake does.
    this.#letGo(pending);
    return this.#request(req, need, since, gate);
  }

  /**
   * A lock held ahead of any open (HDF5 has nothing open yet) that a new open needs
   * stronger: let go and asked for again, keeping its place in line. Never a second request
   * beside the first: it could stand back behind waiters that wait for the first.
   */
  #retake(file: OpenFile, req: ShareRequest): Request {
    const need = combine([file.lock.mode, req.lock])!;
    debug("retake %s %s -> %s", req.path, file.lock.mode, need);
    const since = file.lock.since;
    const gate = this.#gate(req, need); // before anything is let go: it may throw (out of descriptors)
    file.native?.close();
    file.native = undefined;
    file.lock.release(true);
    return this.#request(req, need, since, gate);
  }

  /** A request for `need` on the file, gated by the data file's flock. */
  #request(req: ShareRequest, need: LockMode, since?: number, gate = this.#gate(req, need)): Request {
    return { acquisition: new Acquisition(req.path, need, { ...req.options, since, gate, id: req.id }), native: gate?.lock, id: req.id };
  }

  #gate(req: ShareRequest, need: LockMode): DataFileGate | undefined {
    return dataFileGate(req.path, need, req.mode === "w", req.id);
  }

  /**
   * The request, named as this thread already has the file open (or asked for it) under
   * another name, a hard link: HDF5 sees one file, so the thread holds one lock for it.
   * Two locks would wait for each other for ever (one thread, two flocks on one inode).
   */
  #byName(req: ShareRequest): ShareRequest {
    const id = req.id;
    // Also with one name: a file renamed while open (its folder or itself) is the same file to HDF5.
    if (!id || (this.#files.size === 0 && this.#pending.size === 0) || this.#files.has(req.path) || this.#pending.has(req.path)) return req;
    for (const table of [this.#files, this.#pending]) for (const [path, f] of table) if (f.id && sameFile(f.id, id)) return { ...req, path };
    return req;
  }

  /** Whether HDF5 accepts the reopen; when not: EREOPEN if strict, else false (HDF5 will refuse it). */
  #acceptable(file: OpenFile, req: ShareRequest): boolean {
    if (!file.hdf5 || reopenAccepted(file.hdf5.first, req.mode)) return true;
    if (req.strict) {
      throw new H5TSError("EREOPEN", `${req.path} is open in this thread as "${file.hdf5.first}" (${aLock(file.lock.mode)}); HDF5 refuses to open it again as "${req.mode}" in the same thread`);
    }
    return false;
  }

  #attach(file: OpenFile, path: string, lock: LockMode): Share {
    const share = new Share(this, path, lock);
    file.shares.add(share);
    return share;
  }

  /** Called by Share.release. */
  drop(share: Share, failed: boolean): void {
    if (share.fileId !== undefined && this.#byId.get(share.fileId) === share) {
      this.#byId.delete(share.fileId);
      if (this.#byId.size === 0) countOpenThread(false);
    }
    const file = this.#files.get(share.path);
    if (!file || !file.shares.delete(share)) return;
    // HDF5 lets go of its file object with the thread's last open handle, even while opens
    // are still on their way (an openFileAsync that joined): they will open a new one.
    if (![...file.shares].some((s) => s.fileId !== undefined)) file.hdf5 = undefined;
    if (file.shares.size > 0 && !file.hdf5 && file.native?.handedOver) {
      // HDF5 had the flock's descriptor (h5wasm/handover.ts) and closed it with its file
      // object: the opens still on their way need the flock again.
      file.native.close();
      file.native = lockCreated(share.path, file.lock.mode);
    }
    if (file.shares.size === 0) {
      this.#files.delete(share.path);
      const never = failed && !file.hdf5; // no handle was ever opened: leave nothing
      if (never && file.native?.created) removeEmptyFile(share.path); // made only to be locked before `w`
      releaseDataFileLock(file.native, !never); // the data file's flock first: the record lock is what Node waiters watch
      file.lock.release(never);
    } else this.#follow(file);
  }

  /** start_swmr_write succeeded on a handle: HDF5 holds the file for SWMR writing now, not exclusively. */
  swmrWriteStarted(share: Share): void {
    const file = this.#files.get(share.path);
    if (!file?.shares.has(share) || !file.hdf5) return;
    file.hdf5.swmr = true;
    this.#follow(file);
  }

  // The lock needs what HDF5 has open or, before anything is open, what the opens in progress
  // need. It relaxes to that (start_swmr_write, a failed open), never below.
  #follow(file: OpenFile): void {
    const required = file.hdf5 ? lockOfHdf5(file.hdf5) : combine([...file.shares].map((s) => s.lock));
    if (!required || required === file.lock.mode || !relaxes(file.lock.mode, required)) return;
    file.lock.relaxTo(required);
    const kind = flockKindOf(required);
    if (!kind) {
      file.native?.close(); // a SWMR writer holds no flock, as in HDF5
      file.native = undefined;
    } else if (kind === "shared" && file.native?.kind === "exclusive") file.native.relax("shared");
  }

  // --- handles ---

  /** HDF5 opened the handle of `share`: it is open from now on. */
  bind(share: Share, fileId: bigint, filename: string, mode: string, file?: H5File): void {
    Object.assign(share, { fileId, filename, mode, file });
    if (this.#byId.size === 0) countOpenThread(true);
    this.#byId.set(fileId, share);
    const open = this.#files.get(share.path)!;
    if (!open.hdf5) {
      open.hdf5 = { first: mode, swmr: false };
      open.id ??= resolvePath(share.path).id; // made just now: found by its inode once renamed
      open.native ??= lockCreated(share.path, open.lock.mode); // HDF5 made the file just now
      this.#follow(open); // the opens in progress no longer count: HDF5's open does
    }
  }

  /**
   * The data file's flock that HDF5 may be given the descriptor of (h5wasm/handover.ts)
   * for the open of `share`: only for an open that makes HDF5's file object.
   */
  lendable(share: Share): NativeFileLock | undefined {
    const file = this.#files.get(share.path);
    if (!file?.shares.has(share) || file.hdf5 || !file.native?.held || file.native.handedOver) return undefined;
    return file.native;
  }

  get(fileId: bigint): Share | undefined {
    return this.#byId.get(fileId);
  }

  #file(share: Share): H5File {
    // A handle opened through the Emscripten module directly has no File object yet: make
    // one as h5wasm's File constructor would, without opening anything again.
    share.file ??= Object.assign(Reflect.construct(h5.Group, [share.fileId, "/"], h5.File) as H5File, { filename: share.filename, mode: share.mode });
    return share.file;
  }

  // --- the public face ---

  get handlers(): Set<H5File> {
    return new Set([...this.#byId.values()].map((s) => this.#file(s)));
  }

  get filenames(): string[] {
    return [...new Set([...this.#byId.values()].map((s) => s.filename))];
  }

  get size(): number {
    return this.#byId.size;
  }

  #matching(filename: string): Share[] {
    const path = canonicalPath(filename);
    return [...this.#byId.values()].filter((s) => s.filename === filename || s.path === path);
  }

  has(filename: string): boolean {
    return this.#matching(filename).length > 0;
  }

  getHandlersByName(filename: string): Set<H5File> {
    return new Set(this.#matching(filename).map((s) => this.#file(s)));
  }

  closeAll(): void {
    let failure: { error: unknown } | undefined;
    for (const share of [...this.#byId.values()]) {
      try {
        this.#file(share).close(); // gives back its share through the close wrapper
      } catch (error) {
        failure ??= { error };
      } finally {
        share.release(); // a close that threw still must not leave the lock held
      }
    }
    if (failure) throw failure.error;
  }
}

const KEY = Symbol.for("h5-threadsafe.registry.v2");

/** This thread's table, shared by every copy of the package loaded in the thread. */
export function openFiles(): OpenFiles {
  const g = globalThis as { [KEY]?: OpenFiles };
  return (g[KEY] ??= new OpenFiles());
}

/** This thread's open HDF5 files (PyTables' _FileRegistry). */
export function registry(): FileRegistry {
  return openFiles();
}
