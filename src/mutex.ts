// The short mutex: serializes the check-and-add of a holder record within one lock
// folder, across threads, processes and hosts. It is proper-lockfile's atomic mkdir,
// held for a few syscalls only; nothing that can block (HDF5 calls, waits) runs under it.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import lockfile from "proper-lockfile";
import { H5TSError } from "./errors.js";
import { sleepSync } from "./sleep.js";

const MUTEX = "mutex";

// A holder keeps the mutex for microseconds; one that died inside it is reclaimed by
// proper-lockfile once the mutex is this old (its minimum).
const STALE_MS = 2000;

const lockOptions = {
  realpath: false,
  stale: STALE_MS,
  lockfilePath: "",
  onCompromised: () => {
    // Held far shorter than the stale time; nothing to undo.
  },
};

/** Runs `fn` holding the mutex of lock folder `dir`, creating the folder if needed. */
export function withMutex<T>(dir: string, fn: () => T): T {
  const release = acquire(dir);
  try {
    return fn();
  } finally {
    release();
  }
}

function acquire(dir: string): () => void {
  let delay = 0.05;
  for (;;) {
    try {
      return lockfile.lockSync(dir, { ...lockOptions, lockfilePath: join(dir, MUTEX) });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT") {
        makeLockDir(dir);
        continue;
      }
      if (code !== "ELOCKED") throw e;
    }
    sleepSync(delay);
    delay = Math.min(delay * 2, 1);
  }
}

/** Creates a lock folder. Fails with H5TSError ENOLOCKDIR when that is not possible. */
export function makeLockDir(dir: string): void {
  try {
    mkdirSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return;
    throw new H5TSError("ENOLOCKDIR", `cannot create lock folder ${dir}: ${code}`, { cause: e });
  }
}
