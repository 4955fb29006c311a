// Waking on change: a thread that waits for a lock synchronously watches the file's lock
// folders (inotify, Linux) and sleeps on the watch, so that a release by another process
// of this host wakes it at once instead of at its next look; it then wakes the process's
// other waiters too (wake.ts). Looking at set times goes on as before, for what the watch
// cannot see: other hosts (NFS), a holder that dies without a word. The watches
// themselves (missing folders awaited) are watched-folders.ts's.

import { loadLibc } from "../process/libc.js";
import { WAKE, WATCHERS, sharedCells } from "../process/shared-memory.js";
import { wakeAll } from "./wake.js";
import { IN_DELETE, IN_DELETE_SELF, IN_MODIFY, IN_MOVED_FROM, WatchedFolders } from "./watched-folders.js";

// A record marked (written), removed or renamed away; the folder itself removed. Not a
// heartbeat (attributes) nor a new record: neither lets anyone in.
const MASK = IN_MODIFY | IN_MOVED_FROM | IN_DELETE | IN_DELETE_SELF;
const POLLIN = 1;

/**
 * Threads of one process that watch at once, at most: inotify instances are counted per
 * user (128 by default on Linux), and other programs of the user need theirs. Past it, a
 * waiter looks at set times, and is still woken by the watchers' wakes.
 */
const MAX_WATCHERS = 4;

export class FolderWatch {
  readonly #pollfd = Buffer.alloc(8); // struct pollfd { int fd; short events; short revents; }
  readonly #timeout = Buffer.alloc(16); // struct timespec { time_t tv_sec; long tv_nsec; }
  #closed = false;

  private constructor(readonly folders: WatchedFolders) {
    this.#pollfd.writeInt32LE(folders.fd, 0);
    this.#pollfd.writeInt16LE(POLLIN, 4);
  }

  /** Every folder is watched or awaited: no change on this host goes unseen. */
  get complete(): boolean {
    return this.folders.complete;
  }

  /**
   * A watch on the folders that exist of `dirs`; undefined where there can be none (not
   * Linux, no koffi, inotify refused, or enough threads of this process watch already).
   * Close it when the wait ends. (A worker terminated while it waits keeps its place among
   * the watchers until the process ends; its inotify instance goes with it.)
   */
  static start(dirs: readonly string[]): FolderWatch | undefined {
    if (process.platform !== "linux" || process.env.H5TS_WATCH === "0") return undefined;
    const libc = loadLibc();
    if (!libc) return undefined;
    const cells = sharedCells();
    if (Atomics.add(cells, WATCHERS, 1) >= MAX_WATCHERS) {
      Atomics.sub(cells, WATCHERS, 1);
      return undefined;
    }
    const folders = WatchedFolders.open(libc, MASK);
    if (!folders) {
      Atomics.sub(cells, WATCHERS, 1);
      return undefined;
    }
    for (const dir of dirs) folders.watch(dir);
    return new FolderWatch(folders);
  }

  /**
   * Sleeps up to `ms`, or until a record that `inTheWay` names changes (marked, removed or
   * renamed away) or a watched folder goes or is made, or at once if the process's wake
   * counter has moved from `seen` (a release in this process since the last look). Only a
   * change to a record that was in the waiter's way at its last look can let it in: other
   * waiters' marks at each of their looks (its own too) would otherwise wake every watcher
   * of the host at every look of each, and the woken ones' looks wake them back (three
   * waiting threads of one process kept a core busy between them; waiting processes kept
   * each other at a third of a core each).
   */
  sleep(seen: number, ms: number, inTheWay: (name: string) => boolean): void {
    const end = performance.now() + ms;
    for (let left = ms; left > 0; left = end - performance.now()) {
      if (Atomics.load(sharedCells(), WAKE) !== seen) return;
      const ns = Math.round(left * 1e6);
      this.#timeout.writeBigInt64LE(BigInt(Math.floor(ns / 1e9)), 0);
      this.#timeout.writeBigInt64LE(BigInt(ns % 1e9), 8);
      // 0: the pause is over; -1 (EINTR, a signal with a handler): look again as well.
      if (this.folders.libc.ppoll(this.#pollfd, 1, this.#timeout, null) <= 0) return;
      if (this.#changed(inTheWay)) {
        wakeAll(); // the process's other waiters may be waiting for the same change
        return;
      }
    }
  }

  /** Reads the pending events: whether any is about a record `inTheWay`, or a folder as a whole. */
  #changed(inTheWay: (name: string) => boolean): boolean {
    let changed = false;
    this.folders.drain((e) => {
      if (e.name === undefined || inTheWay(e.name)) changed = true;
    });
    return changed;
  }

  /** Ends the watch (closing the descriptor removes its watches). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.folders.close();
    Atomics.sub(sharedCells(), WATCHERS, 1);
  }
}
