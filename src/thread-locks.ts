// One thread, one lock per file. All handles a thread opens on a file share the thread's
// lock: a reopen that the lock covers or can stand beside joins it without asking anyone
// (a thread never waits for itself), and the lock follows the handles as they close.

import { debug } from "./debug.js";
import { acquire, acquireSync, canonicalPath, type HeldLock, type LockOptions } from "./lock.js";
import { combine, joinable, relaxes, type LockMode } from "./modes.js";

interface Entry {
  lock: HeldLock;
  handles: Map<number, LockMode>;
}

/** A handle's share of its thread's lock on one file. */
export class Claim {
  readonly path: string;
  readonly mode: LockMode;
  readonly id: number;
  readonly #table: ThreadLocks;
  #done = false;

  constructor(table: ThreadLocks, id: number, path: string, mode: LockMode) {
    this.#table = table;
    this.id = id;
    this.path = path;
    this.mode = mode;
  }

  /**
   * The handle is closed (or never opened: `failed`, and then nothing of the lock is left
   * behind at once). Gives up its share. Safe to call twice.
   */
  release(failed = false): void {
    if (this.#done) return;
    this.#done = true;
    this.#table.drop(this, failed);
  }

  /** The handle now needs `mode` (start_swmr_write: exclusive becomes swmr-write). */
  change(mode: LockMode): void {
    if (!this.#done) this.#table.change(this, mode);
  }
}

/** What a thread's lock says to a new handle on a file it already holds. */
export type JoinVerdict = "none" | "join" | "incompatible";

export class ThreadLocks {
  readonly #entries = new Map<string, Entry>();
  readonly #pending = new Map<string, Promise<unknown>>();
  #ids = 0;

  /** Whether this thread already holds `path`, and if so whether `mode` may join. */
  verdict(path: string, mode: LockMode): JoinVerdict {
    const entry = this.#entries.get(path);
    if (!entry) return "none";
    return joinable(entry.lock.mode, mode) ? "join" : "incompatible";
  }

  heldMode(path: string): LockMode | undefined {
    return this.#entries.get(path)?.lock.mode;
  }

  /**
   * A share of this thread's lock on `path` for a new handle of mode `mode`, waiting
   * for others if the thread holds nothing yet. An incompatible reopen gets a claim that
   * joins without changing the lock (HDF5 decides about it, and usually refuses).
   */
  claimSync(path: string, mode: LockMode, options?: Partial<LockOptions>): Claim {
    if (!this.#entries.has(path)) this.#entries.set(path, { lock: acquireSync(path, mode, options), handles: new Map() });
    return this.#attach(path, mode);
  }

  async claim(path: string, mode: LockMode, options?: Partial<LockOptions>): Promise<Claim> {
    // Several async opens of one file in one thread: the first takes the lock, the rest join.
    while (this.#pending.has(path)) await this.#pending.get(path)!.catch(() => undefined);
    if (!this.#entries.has(path)) {
      const taking = acquire(path, mode, options);
      this.#pending.set(path, taking);
      try {
        const lock = await taking;
        if (this.#entries.has(path)) lock.release(); // a synchronous open took it meanwhile
        else this.#entries.set(path, { lock, handles: new Map() });
      } finally {
        this.#pending.delete(path);
      }
    }
    return this.#attach(path, mode);
  }

  #attach(path: string, mode: LockMode): Claim {
    const claim = new Claim(this, ++this.#ids, path, mode);
    this.#entries.get(path)!.handles.set(claim.id, mode);
    return claim;
  }

  drop(claim: Claim, failed = false): void {
    const entry = this.#entries.get(claim.path);
    if (!entry || !entry.handles.delete(claim.id)) return;
    if (entry.handles.size === 0) {
      this.#entries.delete(claim.path);
      entry.lock.release(failed);
    } else this.#follow(entry);
  }

  change(claim: Claim, mode: LockMode): void {
    const entry = this.#entries.get(claim.path);
    if (!entry || !entry.handles.has(claim.id)) return;
    entry.handles.set(claim.id, mode);
    this.#follow(entry);
  }

  // The lock follows the handles, but only ever towards letting more others in.
  #follow(entry: Entry): void {
    const wanted = combine(entry.handles.values());
    if (wanted && wanted !== entry.lock.mode && relaxes(entry.lock.mode, wanted)) {
      entry.lock.relaxTo(wanted);
    } else if (wanted && wanted !== entry.lock.mode) {
      debug("keep %s %s (handles want %s)", entry.lock.path, entry.lock.mode, wanted);
    }
  }

  /** Canonical paths this thread holds locks on. */
  paths(): string[] {
    return [...this.#entries.keys()];
  }
}

const KEY = Symbol.for("h5-threadsafe.threadLocks.v1");

/** This thread's table, shared by every copy of the package loaded in the thread. */
export function threadLocks(): ThreadLocks {
  const g = globalThis as { [KEY]?: ThreadLocks };
  return (g[KEY] ??= new ThreadLocks());
}

export { canonicalPath };
