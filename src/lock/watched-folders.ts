// inotify watches on a file's lock folders (Linux), shared by the two users of a watch: a
// waiter that sleeps until something in its way changes (watch.ts), and a thread that
// takes its idle record again without a look while nothing has changed (unchanged.ts).
// A folder that does not exist yet (the host's fallback folder, which most files never
// use, or its root) is awaited through its parent, and watched once made; a watched one
// that is removed is awaited again. The descriptor belongs to the thread: where the thread
// is a worker, Node closes it when the worker ends, even by terminate() (threadOwned).

import { existsSync } from "node:fs";
import { basename, dirname } from "node:path";
import { closeThreadOwned, threadOwned, type Libc } from "../process/libc.js";

const IN_NONBLOCK = 0o4000;
const IN_CLOEXEC = 0o2000000;
export const IN_MODIFY = 0x2;
export const IN_MOVED_FROM = 0x40;
export const IN_MOVED_TO = 0x80;
export const IN_CREATE = 0x100;
export const IN_DELETE = 0x200;
export const IN_DELETE_SELF = 0x400;
const IN_ONLYDIR = 0x1000000;
const IN_DONT_FOLLOW = 0x2000000;
const IN_MASK_ADD = 0x20000000;
// In a missing folder's parent: the folder made (lock folders are made under a temporary
// name and renamed into place: folders.ts). IN_MASK_ADD: a parent may await two folders.
const AWAIT_MASK = IN_CREATE | IN_MOVED_TO | IN_ONLYDIR | IN_DONT_FOLLOW | IN_MASK_ADD;
// The kernel dropped a watch (its folder was removed): an event without a name.
const IN_IGNORED = 0x8000;
// The kernel's queue overflowed: events were lost (wd -1).
const IN_Q_OVERFLOW = 0x4000;
const ENOENT = 2;
const EINTR = 4;
const EAGAIN = 11;
/** The largest inotify event: its header and a name of NAME_MAX bytes with its NUL. */
const MAX_EVENT = 16 + 256;
/** How many missing folders up a folder may be awaited from (lock folder, fallback root). */
const AWAIT_LEVELS = 2;

/** What an event is about: a record in a watched folder, or a folder as a whole (made, gone, or events lost: `dir` undefined). */
export type FolderEvent = { dir: string; name: string; mask: number } | { dir: string | undefined; name?: undefined; mask: number };

export class WatchedFolders {
  readonly #events = Buffer.alloc(4096);
  /** Watches of a missing folder's parent: the names awaited there, each with the folder to watch once it is made. */
  readonly #awaiting = new Map<number, Map<string, string>>();
  /** The watched folders, by watch. */
  readonly #watched = new Map<number, string>();
  #closed = false;
  #complete = true;

  private constructor(
    readonly libc: Libc,
    /** The inotify descriptor (poll it for events). */
    readonly fd: number,
    /** What to watch in a folder (IN_* events; IN_ONLYDIR and IN_DONT_FOLLOW are added). */
    readonly mask: number,
  ) {}

  /** A new inotify instance of this thread; undefined where inotify refuses one. */
  static open(libc: Libc, mask: number): WatchedFolders | undefined {
    const fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) return undefined;
    return new WatchedFolders(libc, threadOwned(fd), mask | IN_ONLYDIR | IN_DONT_FOLLOW);
  }

  /** Every folder given is watched or awaited: no change on this host goes unseen. */
  get complete(): boolean {
    return this.#complete;
  }

  /** Watches `dir`, or, where it is missing, awaits it through its nearest parent (up to AWAIT_LEVELS up). */
  watch(dir: string, target = dir, levels = AWAIT_LEVELS): void {
    const { libc, fd } = this;
    if (dir === target) {
      const wd = libc.inotify_add_watch(fd, dir, this.mask);
      if (wd >= 0) return void this.#watched.set(wd, dir);
    }
    const parent = dirname(dir);
    if (levels === 0 || parent === dir || (dir === target ? libc.errno() !== ENOENT : false)) {
      this.#complete = false; // unwatchable (ENOSPC past max_user_watches, EACCES, ...)
      return;
    }
    const wd = libc.inotify_add_watch(fd, parent, AWAIT_MASK);
    if (wd < 0) {
      if (libc.errno() === ENOENT) this.watch(parent, target, levels - 1);
      else this.#complete = false;
      return;
    }
    let names = this.#awaiting.get(wd);
    if (!names) this.#awaiting.set(wd, (names = new Map()));
    names.set(basename(dir), target);
    if (existsSync(dir)) this.#startOver(target); // made between the two calls: its creation went unseen
  }

  /** Whether `dir` is watched now, or awaited (it does not exist). */
  covers(dir: string): boolean {
    for (const d of this.#watched.values()) if (d === dir) return true;
    return this.#awaits(dir);
  }

  #awaits(dir: string): boolean {
    for (const names of this.#awaiting.values()) for (const t of names.values()) if (t === dir) return true;
    return false;
  }

  /** Stops watching (or awaiting) `dir`. */
  unwatch(dir: string): void {
    for (const [wd, d] of this.#watched) {
      if (d !== dir) continue;
      this.#watched.delete(wd);
      this.libc.inotify_rm_watch(this.fd, wd);
    }
    this.#stopAwaiting(dir);
  }

  /** `target`, awaited, now exists (or its watch was dropped): watch it afresh. */
  #startOver(target: string): void {
    this.#stopAwaiting(target);
    this.watch(target);
  }

  /** Awaits `target` no more; a parent that awaits nothing else is unwatched (a busy folder would wake the watch for nothing). */
  #stopAwaiting(target: string): void {
    for (const [wd, names] of this.#awaiting) {
      for (const [name, t] of names) if (t === target) names.delete(name);
      if (names.size > 0) continue;
      this.#awaiting.delete(wd);
      if (!this.#watched.has(wd)) this.libc.inotify_rm_watch(this.fd, wd);
    }
  }

  /**
   * Reads every pending event and hands each that matters to `on`: one about a record in
   * a watched folder, or about a folder as a whole (an awaited one made: watched from now
   * on; a watched one gone: awaited from now on; events lost). Names made beside an
   * awaited folder (other files, other files' folders) do not matter.
   */
  drain(on: (e: FolderEvent) => void): void {
    for (;;) {
      const n = this.libc.read(this.fd, this.#events, this.#events.length);
      const errno = n < 0 ? this.libc.errno() : 0;
      if (errno === EINTR) continue;
      if (errno === EAGAIN) return; // nothing (more) queued
      if (n <= 0) {
        // Not an inotify instance's answer (it never reads 0): the descriptor was closed
        // under us (EBADF), or its number now names something else. No news is not good
        // news here: events lost, as at an overflow, and the watch no longer complete.
        this.#complete = false;
        on({ dir: undefined, mask: IN_Q_OVERFLOW });
        return;
      }
      // A read returns every whole event queued that fits: one that left room for the
      // largest event took them all (what is queued after the read began is the next
      // read's: unchanged.ts says why that is enough).
      const all = n <= this.#events.length - MAX_EVENT;
      // struct inotify_event { int wd; uint32_t mask, cookie, len; char name[len]; }
      for (let at = 0; at + 16 <= n; ) {
        const wd = this.#events.readInt32LE(at);
        const mask = this.#events.readUInt32LE(at + 4);
        const len = this.#events.readUInt32LE(at + 12);
        const end = len > 0 ? this.#events.indexOf(0, at + 16) : at + 16; // names are NUL-padded
        const name = this.#events.toString("latin1", at + 16, end < 0 || end > at + 16 + len ? at + 16 + len : end);
        at += 16 + len;
        if (mask & IN_Q_OVERFLOW) {
          on({ dir: undefined, mask });
          continue;
        }
        const awaited = this.#awaiting.get(wd);
        if (awaited && mask & IN_IGNORED) {
          // The parent went: await its folders from further up.
          this.#awaiting.delete(wd);
          for (const target of new Set(awaited.values())) {
            if (!this.#closed) this.watch(target);
            on({ dir: target, mask });
          }
        } else if (awaited) {
          const target = awaited.get(name);
          if (target === undefined) continue;
          this.#startOver(target);
          // Made (or gone again meanwhile); a parent of it made is no news yet.
          if (!this.#awaits(target) || existsSync(target)) on({ dir: target, mask });
        } else if (mask & IN_IGNORED) {
          const dir = this.#watched.get(wd);
          if (dir === undefined) continue; // unwatched on purpose
          this.#watched.delete(wd);
          if (!this.#closed) this.watch(dir);
          on({ dir, mask });
        } else {
          const dir = this.#watched.get(wd);
          if (dir !== undefined) on(len > 0 ? { dir, name, mask } : { dir, mask });
        }
      }
      if (all) return;
    }
  }

  /** Closes the instance (its watches go with it). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeThreadOwned(this.libc, this.fd);
  }
}
