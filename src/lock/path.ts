// The name of a file's lock.

import { realpathSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";

/** Per thread: a path's canonical form, with the file (device, inode) it named then. */
const known = new Map<string, { canonical: string; dev: number; ino: number }>();

/**
 * The path that names a file's lock: symlinks and relative paths resolved. A file that
 * does not exist yet is named by its resolved folder. Resolving costs several system
 * calls; a path resolved before is checked with one stat instead: while it still names
 * the same file (device and inode), its canonical form is the one found then.
 */
export function canonicalPath(path: string): string {
  const key = resolve(path); // relative paths depend on the working directory
  const st = statSync(key, { throwIfNoEntry: false });
  const hit = known.get(key);
  if (st && hit && hit.dev === st.dev && hit.ino === st.ino) return hit.canonical;
  const canonical = resolveFully(key);
  if (st) {
    if (known.size >= 1000) known.clear(); // a bound for programs that touch many files
    known.set(key, { canonical, dev: st.dev, ino: st.ino });
  }
  return canonical;
}

function resolveFully(path: string): string {
  try {
    return realpathSync.native(path);
  } catch {
    try {
      return join(realpathSync.native(dirname(path)), basename(path));
    } catch {
      return path;
    }
  }
}
