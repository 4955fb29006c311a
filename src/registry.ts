// The open-handle registry of one thread, in the spirit of PyTables' _FileRegistry:
// every file opened through the lock is here until it is closed, and what is still open
// when the thread or process ends normally (or on SIGINT/SIGTERM/SIGHUP with no handler of
// the user's: signals.ts) is closed then, so that a writer's data is saved, not corrupted.

import { settings } from "./config.js";
import { debug } from "./debug.js";
import type { Claim } from "./thread-locks.js";
import { canonicalPath } from "./lock.js";
import { sweep } from "./idle-records.js";
import { countOpenThread, onSignalClose } from "./signals.js";

/** What the registry needs of a file object. */
export interface Closable {
  close(): unknown;
}

export interface Entry<F extends Closable = Closable> {
  fileId: bigint;
  /** The name the file was opened with. */
  filename: string;
  /** Its canonical path (the lock's key). */
  path: string;
  mode: string;
  claim: Claim;
  /** The user's File object, when it is known (else made on demand by `materialize`). */
  file?: F;
}

export class FileRegistry<F extends Closable = Closable> {
  readonly #byId = new Map<bigint, Entry<F>>();
  #hooked = false;
  /** Opens done by the explicit API, which the patch's wrappers must let through. */
  bypass = 0;
  /** Makes a File object for a handle opened without one (through the Emscripten module). */
  materialize: ((entry: Entry<F>) => F) | undefined;

  add(entry: Entry<F>): void {
    if (this.#byId.size === 0) countOpenThread(true);
    this.#byId.set(entry.fileId, entry);
    if (!this.#hooked) this.#hook();
  }

  #delete(fileId: bigint): void {
    if (this.#byId.delete(fileId) && this.#byId.size === 0) countOpenThread(false);
  }

  get(fileId: bigint): Entry<F> | undefined {
    return this.#byId.get(fileId);
  }

  /** Takes a handle out (it was closed); returns its entry. */
  remove(fileId: bigint): Entry<F> | undefined {
    const entry = this.#byId.get(fileId);
    this.#delete(fileId);
    return entry;
  }

  #file(entry: Entry<F>): F {
    if (!entry.file && this.materialize) entry.file = this.materialize(entry);
    return entry.file!;
  }

  /** The open File objects (a copy). */
  get handlers(): Set<F> {
    return new Set([...this.#byId.values()].map((e) => this.#file(e)));
  }

  /** The names the open files were opened with, each once. */
  get filenames(): string[] {
    return [...new Set([...this.#byId.values()].map((e) => e.filename))];
  }

  get size(): number {
    return this.#byId.size;
  }

  #matching(filename: string): Entry<F>[] {
    const path = canonicalPath(filename);
    return [...this.#byId.values()].filter((e) => e.filename === filename || e.path === path);
  }

  /** Whether a file is open, by any name that leads to it. */
  has(filename: string): boolean {
    return this.#matching(filename).length > 0;
  }

  getHandlersByName(filename: string): Set<F> {
    return new Set(this.#matching(filename).map((e) => this.#file(e)));
  }

  /** Closes every open file; each close is tried, and the first error is thrown after. */
  closeAll(): void {
    let failure: { error: unknown } | undefined;
    for (const entry of [...this.#byId.values()]) {
      try {
        this.#file(entry).close();
      } catch (error) {
        failure ??= { error };
      } finally {
        // A close that threw still must not leave the lock held.
        if (this.#byId.get(entry.fileId) === entry) {
          this.#delete(entry.fileId);
          entry.claim.release();
        }
      }
    }
    if (failure) throw failure.error;
  }

  #hook(): void {
    this.#hooked = true;
    process.on("exit", () => this.#atExit("exit"));
    this.watchSignals();
  }

  #watching = false;
  /**
   * Closes this thread's files on SIGINT/SIGTERM/SIGHUP (see signals.ts). The patch calls
   * it in the main thread at once: the main thread must close the workers' files too,
   * whether or not it opens any itself.
   */
  watchSignals(): void {
    if (this.#watching) return;
    this.#watching = true;
    onSignalClose((signal) => this.#atExit(signal));
  }

  #atExit(why: string): void {
    if (this.#byId.size === 0) return;
    if (settings().warnUnclosed) {
      process.emit(
        "warning",
        Object.assign(new Error(`closing ${this.#byId.size} HDF5 file(s) left open at ${why}: ${this.filenames.join(", ")}`), {
          name: "H5ThreadsafeWarning",
          code: "H5TS_UNCLOSED",
        }),
      );
    }
    debug("closing %d file(s) at %s", this.#byId.size, why);
    try {
      this.closeAll();
    } catch {
      // Exiting anyway; the locks are released above.
    }
    sweep(); // the lock folders emptied just now, which no timer will get to
  }
}

const KEY = Symbol.for("h5-threadsafe.registry.v1");

/** This thread's registry, shared by every copy of the package loaded in the thread. */
export function registry(): FileRegistry {
  const g = globalThis as { [KEY]?: FileRegistry };
  return (g[KEY] ??= new FileRegistry());
}
