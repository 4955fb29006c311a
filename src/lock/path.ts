// The name of a file's lock.

import { realpathSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";

/**
 * The path that names a file's lock: symlinks and relative paths resolved. A file that
 * does not exist yet is named by its resolved folder.
 */
export function canonicalPath(path: string): string {
  try {
    return realpathSync.native(path);
  } catch {
    try {
      return join(realpathSync.native(dirname(resolve(path))), basename(path));
    } catch {
      return resolve(path);
    }
  }
}
