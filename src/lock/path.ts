// The name of a file's lock, and which file a path names now.

import { realpathSync, statSync } from "node:fs";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";

/** Which file a path names: its device and inode, and how many names (hard links) it has. */
export interface FileIdentity {
  dev: number;
  ino: number;
  nlink: number;
  /** A regular file (not a folder, FIFO, device...). */
  regular: boolean;
}

/** A path resolved for locking: the canonical path, and the file's identity where it exists. */
export interface ResolvedPath {
  path: string;
  id?: FileIdentity;
  /** The file's folder does not exist (as the kernel resolves the name): no open can make or find it. */
  unreachable?: true;
}

/** Whether two identities are one file. */
export const sameFile = (a: FileIdentity, b: FileIdentity) => a.dev === b.dev && a.ino === b.ino;

// Per thread: a path's canonical form, as found by realpath (4 or more syscalls, ~6-10 µs)
// and trusted again while one stat shows the same file there, for TRUST_MS. The stat is
// needed anyway (the identity); the bound limits how long a folder renamed on the way
// (same inode, new canonical name) goes on being named by its old path here.
const TRUST_MS = 1000;
const known = new Map<string, { path: string; dev: number; ino: number; at: number }>();

/**
 * The path that names a file's lock: symlinks and relative paths resolved; a file that
 * does not exist yet is named by its resolved folder. With the file's identity, from the
 * same stat, where it exists.
 */
export function resolvePath(path: string): ResolvedPath {
  let st;
  try {
    st = statSync(path, { throwIfNoEntry: false });
  } catch {
    st = undefined; // ENOTDIR, EACCES, ELOOP...: as a missing file
  }
  if (!st) return missingPath(path);
  const id = { dev: st.dev, ino: st.ino, nlink: st.nlink, regular: st.isFile() };
  const key = isAbsolute(path) ? path : `${process.cwd()}\0${path}`;
  const now = performance.now();
  const hit = known.get(key);
  if (hit && hit.dev === id.dev && hit.ino === id.ino && now - hit.at < TRUST_MS) return { path: hit.path, id };
  let canonical: string;
  try {
    canonical = realpathSync.native(path);
  } catch {
    return { ...missingPath(path), id }; // gone since the stat
  }
  if (known.size >= 1000) known.clear(); // a bound for programs that touch many files
  known.set(key, { path: canonical, dev: id.dev, ino: id.ino, at: now });
  return { path: canonical, id };
}

export function canonicalPath(path: string): string {
  return resolvePath(path).path;
}

/**
 * A missing file's name: its folder as the kernel resolves it. Not `path.resolve` first:
 * that removes "x/.." as text, where the kernel follows a symlink x and then goes up from
 * where it points ("latest/../new.h5" names a file beside the folder `latest` points to).
 * The lock would then lock, and a `w` truncate, another file.
 */
function missingPath(path: string): ResolvedPath {
  try {
    return { path: realpathSync.native(path) };
  } catch {
    try {
      return { path: join(realpathSync.native(dirname(path)), basename(path)) };
    } catch {
      return { path: resolve(path), unreachable: true };
    }
  }
}
