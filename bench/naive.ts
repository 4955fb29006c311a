// The naive baseline: one plain proper-lockfile exclusive lock per file, held from open
// to close, as a user would write it without this package. proper-lockfile's sync API
// cannot wait, so a conflicting open retries every millisecond.

import lockfile from "proper-lockfile";

export function naiveLock(file: string): () => void {
  for (;;) {
    try {
      return lockfile.lockSync(file, { realpath: false, lockfilePath: `${file}.naive-lock` });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ELOCKED") throw e;
      sleepSync(1);
    }
  }
}

const cell = new Int32Array(new SharedArrayBuffer(4));

/** A synchronous sleep that gives the core away. */
export function sleepSync(ms: number): void {
  if (ms > 0) Atomics.wait(cell, 0, 0, ms);
}
