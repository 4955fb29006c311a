// Waking on change: a thread that waits for a lock synchronously watches the file's lock
// folders (inotify, Linux) and sleeps on the watch, so that a release by another process
// of this host wakes it at once instead of at its next look; it then wakes the process's
// other waiters too (wake.ts). Looking at set times goes on as before, for what the watch
// cannot see: other hosts (NFS), and folders made after the wait began.

import { loadLibc, type Libc } from "../process/libc.js";
import { WAKE, WATCHERS, sharedCells } from "../process/shared-memory.js";
import { wakeAll } from "./wake.js";

const IN_NONBLOCK = 0o4000;
const IN_CLOEXEC = 0o2000000;
// A record marked (written), removed or renamed away; the folder itself removed. Not a
// heartbeat (attributes) nor a new record: neither lets anyone in.
const IN_MODIFY = 0x2;
const IN_MOVED_FROM = 0x40;
const IN_DELETE = 0x200;
const IN_DELETE_SELF = 0x400;
const IN_ONLYDIR = 0x1000000;
const IN_DONT_FOLLOW = 0x2000000;
const MASK = IN_MODIFY | IN_MOVED_FROM | IN_DELETE | IN_DELETE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW;
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
  readonly #events = Buffer.alloc(4096);
  #closed = false;

  private constructor(
    readonly libc: Libc,
    readonly fd: number,
    /** Every folder is watched: no change on this host goes unseen. */
    readonly complete: boolean,
  ) {
    this.#pollfd.writeInt32LE(fd, 0);
    this.#pollfd.writeInt16LE(POLLIN, 4);
  }

  /**
   * A watch on the folders that exist of `dirs`; undefined where there can be none (not
   * Linux, no koffi, inotify refused, or enough threads of this process watch already).
   * Close it when the wait ends. (A worker terminated while it waits keeps its watch,
   * and its place among the watchers, until the process ends.)
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
    const fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) {
      Atomics.sub(cells, WATCHERS, 1);
      return undefined;
    }
    // A folder that cannot be watched (missing, ENOSPC past max_user_watches) is looked at as before.
    let complete = true;
    for (const dir of dirs) if (libc.inotify_add_watch(fd, dir, MASK) < 0) complete = false;
    return new FolderWatch(libc, fd, complete);
  }

  /**
   * Sleeps up to `ms`, or until a watched folder changes (but for the records of this
   * process's threads, whose names start, after the mode, with `ourProcess` (record.ts
   * processPart): the waiter's own, `own`, says nothing new to it, and the others bump the
   * wake counter when they let go; their marks while they wait would otherwise wake every
   * watcher of the process at each look of each, which kept three waiting threads busy at a
   * core between them), or at once if the process's wake counter has
   * moved from `seen` (a release in this process since the last look).
   */
  sleep(seen: number, ms: number, own: string | undefined, ourProcess?: string): void {
    const end = performance.now() + ms;
    for (let left = ms; left > 0; left = end - performance.now()) {
      if (Atomics.load(sharedCells(), WAKE) !== seen) return;
      const ns = Math.round(left * 1e6);
      this.#timeout.writeBigInt64LE(BigInt(Math.floor(ns / 1e9)), 0);
      this.#timeout.writeBigInt64LE(BigInt(ns % 1e9), 8);
      // 0: the pause is over; -1 (EINTR, a signal with a handler): look again as well.
      if (this.libc.ppoll(this.#pollfd, 1, this.#timeout, null) <= 0) return;
      if (this.#othersChanged(own, ourProcess)) {
        wakeAll(); // the process's other waiters may be waiting for the same change
        return;
      }
    }
  }

  /** Reads the pending events: whether any is about a record that is not this process's (nor `own`). */
  #othersChanged(own: string | undefined, ourProcess: string | undefined): boolean {
    let others = false;
    for (;;) {
      const n = this.libc.read(this.fd, this.#events, this.#events.length);
      if (n <= 0) return others;
      // struct inotify_event { int wd; uint32_t mask, cookie, len; char name[len]; }
      for (let at = 0; at + 16 <= n; ) {
        const len = this.#events.readUInt32LE(at + 12);
        const name = this.#events.toString("latin1", at + 16, at + 16 + len).replace(/\0+$/, "");
        if (name !== own && !(ourProcess && name.startsWith(ourProcess, 2))) others = true;
        at += 16 + len;
      }
    }
  }

  /** Ends the watch (closing the descriptor removes its watches). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.libc.close(this.fd);
    Atomics.sub(sharedCells(), WATCHERS, 1);
  }
}
