// The naive baseline: one plain proper-lockfile exclusive lock per file, held from open
// to close, as a user would write it without this package. proper-lockfile's sync API
// cannot wait, so a conflicting open retries every millisecond.

import lockfile from "proper-lockfile";
import { sleepSync } from "../src/sleep.js";

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
