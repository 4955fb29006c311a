// The open-file table of one thread, in the spirit of PyTables' _FileRegistry: every HDF5
// handle opened through the lock (by file id), the file it belongs to (by canonical path),
// and the thread's lock on that file, which all the file's handles share and which follows
// them. registry() is its public face; the rest is for the h5wasm adapter.

import * as h5 from "h5wasm/node";
import { debug } from "./debug.js";
import type { HeldLock } from "./lock/held-lock.js";
import { combine, joinable, relaxes, type LockMode } from "./lock/modes.js";
import type { LockOptions } from "./lock/options.js";
import { canonicalPath } from "./lock/path.js";
import { acquire, acquireSync } from "./lock/wait.js";
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

/** What the thread's lock on a file says to a new handle: none held, join it, or it cannot. */
export type JoinVerdict = "none" | "join" | "incompatible";

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

interface OpenFile {
  lock: HeldLock;
  shares: Set<Share>;
}

export class OpenFiles implements FileRegistry {
  readonly #files = new Map<string, OpenFile>();
  readonly #byId = new Map<bigint, Share>();
  /** Async requests of this thread still waiting for a file's lock. */
  readonly #pending = new Map<string, Promise<unknown>>();

  // --- the thread's lock per file ---

  /** Whether this thread already holds `path`, and if so whether `lock` may join. */
  verdict(path: string, lock: LockMode): JoinVerdict {
    const file = this.#files.get(path);
    if (!file) return "none";
    return joinable(file.lock.mode, lock) ? "join" : "incompatible";
  }

  heldMode(path: string): LockMode | undefined {
    return this.#files.get(path)?.lock.mode;
  }

  /**
   * A share of this thread's lock on `path` for a new handle that needs `lock`, waiting
   * for others if the thread holds nothing yet. An incompatible reopen gets a share that
   * joins without changing the lock (HDF5 decides about it, and usually refuses).
   */
  claimSync(path: string, lock: LockMode, options?: Partial<LockOptions>): Share {
    if (!this.#files.has(path)) this.#files.set(path, { lock: acquireSync(path, lock, options), shares: new Set() });
    return this.#attach(path, lock);
  }

  /** As claimSync, waiting without blocking the event loop. */
  async claim(path: string, lock: LockMode, options?: Partial<LockOptions>): Promise<Share> {
    // Several async opens of one file in one thread: the first takes the lock, the rest join.
    while (this.#pending.has(path)) await this.#pending.get(path)!.catch(() => undefined);
    if (!this.#files.has(path)) {
      const taking = acquire(path, lock, options);
      this.#pending.set(path, taking);
      try {
        const held = await taking;
        if (this.#files.has(path)) held.release(); // a synchronous open took it meanwhile
        else this.#files.set(path, { lock: held, shares: new Set() });
      } finally {
        this.#pending.delete(path);
      }
    }
    return this.#attach(path, lock);
  }

  #attach(path: string, lock: LockMode): Share {
    const share = new Share(this, path, lock);
    this.#files.get(path)!.shares.add(share);
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
    if (file.shares.size === 0) {
      this.#files.delete(share.path);
      file.lock.release(failed);
    } else this.#follow(file);
  }

  /** The handle now needs `lock` (start_swmr_write: exclusive becomes swmr-write). */
  change(share: Share, lock: LockMode): void {
    const file = this.#files.get(share.path);
    if (!file?.shares.has(share)) return;
    share.lock = lock;
    this.#follow(file);
  }

  // The lock follows the handles, but only ever towards letting more others in.
  #follow(file: OpenFile): void {
    const wanted = combine([...file.shares].map((s) => s.lock));
    if (!wanted || wanted === file.lock.mode) return;
    if (relaxes(file.lock.mode, wanted)) file.lock.relaxTo(wanted);
    else debug("keep %s %s (handles want %s)", file.lock.path, file.lock.mode, wanted);
  }

  // --- handles ---

  /** HDF5 opened the handle of `share`: it is open from now on. */
  bind(share: Share, fileId: bigint, filename: string, mode: string, file?: H5File): void {
    Object.assign(share, { fileId, filename, mode, file });
    if (this.#byId.size === 0) countOpenThread(true);
    this.#byId.set(fileId, share);
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
