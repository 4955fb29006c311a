// Lock folders: made on first use, and removed once empty (see idle-records.ts for when).

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
