// Waking on change: a thread that waits for a lock synchronously watches the file's lock
// folders (inotify, Linux) and sleeps on the watch, so that a release by another process
// of this host wakes it at once instead of at its next look; it then wakes the process's
// other waiters too (wake.ts). Looking at set times goes on as before, for what the watch
// cannot see: other hosts (NFS). A folder that does not exist yet (the fallback folder,
// which most files never use) is awaited through its parent: once it is made, it is
// watched too, and the waiter looks again.

import { existsSync } from "node:fs";
import { basename, dirname } from "node:path";
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
// In a missing folder's parent: the folder made (lock folders are made under a temporary
// name and renamed into place: folders.ts). IN_MASK_ADD: a parent may await two folders.
const IN_CREATE = 0x100;
const IN_MOVED_TO = 0x80;
const IN_MASK_ADD = 0x20000000;
const AWAIT_MASK = IN_CREATE | IN_MOVED_TO | IN_ONLYDIR | IN_DONT_FOLLOW | IN_MASK_ADD;
// The kernel dropped a watch (its folder was removed): an event without a name.
const IN_IGNORED = 0x8000;
const ENOENT = 2;
/** How many missing folders up a watch may await its folder from (lock folder, fallback root). */
const AWAIT_LEVELS = 2;
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
  /** Watches of a missing folder's parent: the names awaited there, each with the folder to watch once it is made. */
  readonly #awaiting = new Map<number, Map<string, string>>();
  /** The watched lock folders, by watch: one that the kernel drops (its folder removed) is awaited again. */
  readonly #watched = new Map<number, string>();
  #closed = false;
  /** Every folder is watched or awaited: no change on this host goes unseen. */
  #complete = true;

  private constructor(
    readonly libc: Libc,
    readonly fd: number,
  ) {
    this.#pollfd.writeInt32LE(fd, 0);
    this.#pollfd.writeInt16LE(POLLIN, 4);
  }

  get complete(): boolean {
    return this.#complete;
  }

  /** Watches `dir`, or, where it is missing, awaits it through its nearest parent (up to AWAIT_LEVELS up). */
  #watch(dir: string, target = dir, levels = AWAIT_LEVELS): void {
    const { libc, fd } = this;
    if (dir === target) {
      const wd = libc.inotify_add_watch(fd, dir, MASK);
      if (wd >= 0) return void this.#watched.set(wd, dir);
    }
    const parent = dirname(dir);
    if (levels === 0 || parent === dir || (dir === target ? libc.errno() !== ENOENT : false)) {
      this.#complete = false; // unwatchable (ENOSPC past max_user_watches, EACCES, ...): looked at as before
      return;
    }
    const wd = libc.inotify_add_watch(fd, parent, AWAIT_MASK);
    if (wd < 0) {
      if (libc.errno() === ENOENT) this.#watch(parent, target, levels - 1);
      else this.#complete = false;
      return;
    }
    let names = this.#awaiting.get(wd);
    if (!names) this.#awaiting.set(wd, (names = new Map()));
    names.set(basename(dir), target);
    if (existsSync(dir)) this.#startOver(target); // made between the two calls: its creation went unseen
  }

  /** `target`, awaited, now exists (or its watch was dropped): watch it afresh. */
  #startOver(target: string): void {
    for (const names of this.#awaiting.values()) for (const [name, t] of names) if (t === target) names.delete(name);
    this.#watch(target);
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
    const watch = new FolderWatch(libc, fd);
    for (const dir of dirs) watch.#watch(dir);
    return watch;
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
      if (this.libc.ppoll(this.#pollfd, 1, this.#timeout, null) <= 0) return;
      if (this.#changed(inTheWay)) {
        wakeAll(); // the process's other waiters may be waiting for the same change
        return;
      }
    }
  }

  /**
   * Reads the pending events: whether any is about a record `inTheWay`, or an awaited
   * folder was made (it is watched from now on), or a watched one went (it is awaited
   * from now on).
   */
  #changed(inTheWay: (name: string) => boolean): boolean {
    let others = false;
    for (;;) {
      const n = this.libc.read(this.fd, this.#events, this.#events.length);
      if (n <= 0) return others;
      // struct inotify_event { int wd; uint32_t mask, cookie, len; char name[len]; }
      for (let at = 0; at + 16 <= n; ) {
        const wd = this.#events.readInt32LE(at);
        const mask = this.#events.readUInt32LE(at + 4);
        const len = this.#events.readUInt32LE(at + 12);
        const name = this.#events.toString("latin1", at + 16, at + 16 + len).replace(/\0+$/, "");
        at += 16 + len;
        const awaited = this.#awaiting.get(wd);
        if (awaited && mask & IN_IGNORED) {
          // The parent went: await its folders from further up.
          this.#awaiting.delete(wd);
          if (!this.#closed) for (const target of new Set(awaited.values())) this.#watch(target);
          others = true;
        } else if (awaited) {
          // Anything else made beside it (other files, other files' folders) is not news.
          const target = awaited.get(name);
          if (target !== undefined) {
            this.#startOver(target);
            others = true;
          }
        } else if (mask & IN_IGNORED) {
          const dir = this.#watched.get(wd);
          this.#watched.delete(wd);
          if (dir !== undefined && !this.#closed) this.#watch(dir);
          others = true;
        } else if (inTheWay(name)) others = true;
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
