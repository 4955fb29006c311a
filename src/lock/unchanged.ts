// Knowing, without a look, that nothing that matters has changed in a file's lock folders.
// A thread taking its idle record again (attempt.ts tryIdle) marks it, then looks at every
// record of the file: it lists each folder and reads each record, most of what the lock
// costs an open (an open+close `r` in a loop made 18 system calls against bare h5wasm's 8).
// Where its last look found nothing that could stand in its way, and nothing that could
// has changed in those folders since, that look holds still, and the record is taken
// without a new one: a watch of the folders (inotify, watched-folders.ts) says so in one
// read that finds nothing.
//
// As safe as the look it replaces: whatever could stand in the way is a record made,
// marked, removed or renamed in one of these folders, and the kernel queues its event
// before the call that made the change returns. Our mark comes before our read of the
// queue, and another request's change before its own look: so either our read sees its
// change (and we look), or its change came after our read, so after our mark, and its
// look sees our mark. The watch must be in place before the look whose verdict it keeps
// (prepare(), then the look). Events lost (queue overflow), a folder made or gone, and
// the removal of our own record all count as changes.
//
// Only where every writer of the folders is this kernel: local file systems (a change
// made on another host over NFS makes no event here). Elsewhere, without koffi or
// inotify, or with H5TS_WATCH=0 or H5TS_REUSE_WITHOUT_LOOK=0, every open looks. One inotify instance per
// thread, while it keeps records; Node closes it with a worker that ends.

import { lstatSync, statfsSync } from "node:fs";
import { dirname } from "node:path";
import { debug } from "../debug.js";
import { loadLibc } from "../process/libc.js";
import type { OwnRecord } from "./idle.js";
import { IN_CREATE, IN_DELETE, IN_DELETE_SELF, IN_MODIFY, IN_MOVED_FROM, IN_MOVED_TO, WatchedFolders, type FolderEvent } from "./watched-folders.js";

// A record made, marked, removed or renamed; a folder removed.
const MASK = IN_CREATE | IN_MODIFY | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE | IN_DELETE_SELF;

// statfs(2) f_type of file systems whose every change is made by this kernel.
const LOCAL = new Set([
  0xef53, // ext2, ext3, ext4
  0x01021994, // tmpfs
  0x58465342, // xfs
  0x9123683e, // btrfs
  0x794c7630, // overlayfs (containers)
  0xf2f52010, // f2fs
  0x2fc12fc1, // zfs
  0x858458f6, // ramfs
]);

interface Entry {
  dirs: readonly string[];
  /** What each folder was when it was watched (idOf). */
  ids: (string | undefined)[];
  /** The record's own name: its removal is a change. */
  own: string;
  /** Whether a record of this name could stand in the record's way. */
  matters: (name: string) => boolean;
  /** The last look found nothing in the way, and nothing that could be has changed since. */
  clean: boolean;
}

let folders: WatchedFolders | undefined;
/** By record name. */
const entries = new Map<string, Entry>();
/** How many entries watch each folder. */
const users = new Map<string, number>();
const localCache = new Map<string, boolean>();

function isLocal(dir: string): boolean {
  let known = localCache.get(dir);
  if (known === undefined) {
    for (let d = dir; ; d = dirname(d)) {
      try {
        known = LOCAL.has(Number(statfsSync(d).type) >>> 0);
        break;
      } catch (e) {
        // A folder not made yet: its parent's file system is the one it will be on. Any
        // other error (EIO, ESTALE on NFS) says nothing: not local, and not kept.
        const code = (e as NodeJS.ErrnoException).code;
        if ((code !== "ENOENT" && code !== "ENOTDIR") || dirname(d) === d) return false;
      }
    }
    if (localCache.size >= 1000) localCache.clear();
    localCache.set(dir, known);
  }
  return known;
}

/**
 * What a folder path names now: a directory's device and inode, "other", or undefined
 * (nothing). A folder removed while anyone holds it open makes no event until the last
 * holder lets go, and a renamed folder above it none at all: the reuse compares these
 * instead (one lstat each).
 */
function idOf(dir: string): string | undefined {
  const st = lstatSync(dir, { throwIfNoEntry: false });
  return st === undefined ? undefined : st.isDirectory() ? `${st.dev}:${st.ino}` : "other";
}

/** Whether `entry` watches `dirs` as they are now: the same paths, each still naming the folder it watched. */
function watchesNow(entry: Entry, dirs: readonly string[]): boolean {
  const same = entry.dirs === dirs || (entry.dirs.length === dirs.length && entry.dirs.every((d, i) => d === dirs[i]));
  return same && dirs.every((d, i) => idOf(d) === entry.ids[i]);
}

function onEvent(e: FolderEvent): void {
  for (const entry of entries.values()) {
    if (!entry.clean || (e.dir !== undefined && !entry.dirs.includes(e.dir))) continue;
    if (e.name === undefined) entry.clean = false; // a folder made or gone, or events lost
    else if (e.name === entry.own ? (e.mask & (IN_DELETE | IN_MOVED_FROM)) !== 0 : entry.matters(e.name)) entry.clean = false;
  }
}

/**
 * Whether `record`'s last look (see prepare) still holds for a request whose folders are
 * `dirs`: the same folders (a file that got or lost a second name has others), the record
 * still in one of them, each still the one watched, and nothing that could stand in its
 * way changed since. Call after marking the record (its mark must come first).
 */
export function unchanged(record: OwnRecord, dirs: readonly string[]): boolean {
  const entry = entries.get(record.name);
  if (!entry?.clean || !folders || !dirs.includes(record.dir) || !watchesNow(entry, dirs)) return false;
  folders.drain(onEvent);
  return entry.clean;
}

/**
 * Before a look of `record`'s folders (`dirs`): watches them, so that the look's verdict
 * can be kept (found()). `matters`: whether a record of a given name could stand in its way.
 */
export function prepare(record: OwnRecord, dirs: readonly string[], matters: (name: string) => boolean): void {
  if (process.platform !== "linux" || process.env.H5TS_WATCH === "0" || process.env.H5TS_REUSE_WITHOUT_LOOK === "0") return;
  let entry = entries.get(record.name);
  // Other folders now, or one of them replaced: watch afresh.
  if (entry && !watchesNow(entry, dirs)) {
    forget(record);
    entry = undefined;
  }
  if (!entry) {
    if (!dirs.every(isLocal)) return;
    const libc = loadLibc();
    if (!libc) return;
    folders ??= WatchedFolders.open(libc, MASK);
    if (!folders) return;
    const before = dirs.map(idOf);
    for (const dir of dirs) {
      const n = users.get(dir) ?? 0;
      if (n === 0) folders.watch(dir);
      users.set(dir, n + 1);
    }
    const ids = dirs.map(idOf);
    entries.set(record.name, (entry = { dirs, ids, own: record.name, matters, clean: false }));
    debug("watching the lock folders of %s for its reuse", record.name);
    // A folder replaced while it was being watched: the watch may be on the one that went.
    if (ids.some((id, i) => id !== before[i])) return;
  } else folders!.drain(onEvent); // what came before the look does not count against it
  // Provisionally: any change from now on makes it false (found() too). Not while a folder
  // is neither watched nor awaited (it could not be: ENOSPC past max_user_watches...).
  entry.clean = entry.dirs.every((d) => folders!.covers(d));
}

/** After the look that prepare() preceded: `nothingInTheWay` keeps its verdict until a change. */
export function found(record: OwnRecord, nothingInTheWay: boolean): void {
  const entry = entries.get(record.name);
  if (entry && !nothingInTheWay) entry.clean = false;
}

/** `record` is gone for good: its watches go when no other record of the thread needs them. */
export function forget(record: OwnRecord): void {
  const entry = entries.get(record.name);
  if (!entry) return;
  entries.delete(record.name);
  for (const dir of entry.dirs) {
    const n = (users.get(dir) ?? 1) - 1;
    if (n > 0) users.set(dir, n);
    else {
      users.delete(dir);
      folders?.unwatch(dir);
    }
  }
  if (entries.size === 0) {
    folders?.close();
    folders = undefined;
  }
}
