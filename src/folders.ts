// Lock folders: made on first use, and removed once empty. Removal is deferred to the
// event loop (and done at exit at the latest): an rmdir and the mkdir that the next open
// would need cost more than HDF5's whole open+close on an ext4 disk, and a program that
// opens one file again and again should not pay that each time.

import { chmodSync, mkdirSync, rmdirSync } from "node:fs";
import { dirname } from "node:path";
import { H5TSError } from "./errors.js";
import { FALLBACK_ROOT } from "./records.js";

/**
 * Creates a lock folder. Fails with H5TSError ENOLOCKDIR (with the system error as cause)
 * when that is not possible. In the host's shared fallback folder, lock folders are open
 * to every user, as the records of all users of a file must meet there.
 */
export function makeLockDir(dir: string): void {
  try {
    mkdirSync(dir);
    if (dirname(dir) === FALLBACK_ROOT) chmodSync(dir, 0o777);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return;
    if (code === "ENOENT" && dirname(dir) === FALLBACK_ROOT) {
      makeFallbackRoot();
      return makeLockDir(dir);
    }
    throw new H5TSError("ENOLOCKDIR", `cannot create lock folder ${dir}: ${code}`, { cause: e });
  }
}

/** Creates the host's fallback folder, sticky and writable by all, as /tmp is. */
export function makeFallbackRoot(): void {
  try {
    mkdirSync(FALLBACK_ROOT);
    chmodSync(FALLBACK_ROOT, 0o1777);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
}

/** Removes a lock folder now if it is empty (others hold or wait: then it stays). */
export function removeIfEmpty(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // Not empty, or gone already: both fine.
  }
}

const pending = new Set<string>();
let timer: NodeJS.Timeout | undefined;
let hooked = false;

/** Removes now the folders waiting for removal (at exit: no later is coming). */
export function sweep(): void {
  timer = undefined;
  for (const dir of pending) removeIfEmpty(dir);
  pending.clear();
}

/** Removes a lock folder soon if it is still empty then. */
export function removeSoon(dir: string): void {
  pending.add(dir);
  timer ??= setTimeout(sweep, 0).unref();
  if (!hooked) {
    hooked = true;
    process.on("exit", sweep);
  }
}
