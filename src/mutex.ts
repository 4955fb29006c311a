// The short mutex: serializes the check-and-add of a holder record within one lock
// folder, across threads, processes and hosts. It is proper-lockfile's lock (an atomic
// mkdir), held for a few syscalls only; nothing that can block runs under it.
//
// proper-lockfile judges a lock stale by its age, and two contenders removing one stale
// lock at once can both win (its issue #121). We keep its algorithm and give it, through
// its `fs` option, a better judgement and a safe removal:
// - mkdir also writes an owner record (who holds it) into the mutex folder;
// - stat reports a lock whose owner is gone as ancient, and one whose owner lives (on this
//   host) as fresh, so a dead owner is reclaimed at once and a live one never;
// - rmdir of someone else's lock (a reclaim) happens only for the one contender that
//   creates the tombstone file named after that owner, and only if that owner is still
//   the one inside; the others find nothing to remove and compete for the free lock.

import * as fs from "node:fs";
import { dirname, join } from "node:path";
import lockfile from "proper-lockfile";
import { H5TSError } from "./errors.js";
import { aliveOnThisHost, identity } from "./liveness.js";
import { FALLBACK_ROOT, parseRecord, recordName } from "./records.js";
import { sleepSync } from "./sleep.js";

const MUTEX = "mutex";

// A mutex with no owner record (its taker died between mkdir and writing the record) is
// reclaimed once it is this old: proper-lockfile's minimum.
const STALE_MS = 2000;
// A tombstone older than this belongs to a reclaimer that died; it may be removed.
const TOMBSTONE_MS = 10_000;

let ownName: string | undefined;
function ownerName(): string {
  return (ownName ??= recordName("h", "exclusive", 0));
}

/** The owner record inside a mutex folder, if any. */
function ownerOf(mutex: string): string | undefined {
  try {
    return fs.readdirSync(mutex).find((n) => parseRecord(n));
  } catch {
    return undefined;
  }
}

function ownerAlive(owner: string): boolean | undefined {
  const r = parseRecord(owner)!;
  if (r.host !== identity().host) return undefined; // judged by age (proper-lockfile's heartbeat)
  return aliveOnThisHost(r);
}

const mutexFs = {
  ...fs,
  mkdirSync(path: fs.PathLike): void {
    fs.mkdirSync(path);
    try {
      fs.closeSync(fs.openSync(join(String(path), ownerName()), "wx"));
    } catch (e) {
      // Reclaimed in the instant between the two calls: it is not ours.
      throw Object.assign(new Error(`mutex ${String(path)} was reclaimed`), { code: "EEXIST", cause: e });
    }
  },
  statSync(path: fs.PathLike): fs.Stats {
    const stat = fs.statSync(path);
    const owner = ownerOf(String(path));
    if (owner && owner !== ownerName()) {
      const alive = ownerAlive(owner);
      if (alive === false) stat.mtime = new Date(0);
      else if (alive === true) stat.mtime = new Date();
    }
    return stat;
  },
  rmdirSync(path: fs.PathLike): void {
    const mutex = String(path);
    const owner = ownerOf(mutex);
    if (owner === ownerName()) {
      fs.unlinkSync(join(mutex, owner));
      fs.rmdirSync(mutex);
      return;
    }
    reclaim(mutex, owner);
  },
};

/** Removes a stale mutex, if this contender is the one to do it and it is still stale. */
function reclaim(mutex: string, owner: string | undefined): void {
  let token = owner;
  if (!token) {
    const st = fs.statSync(mutex, { throwIfNoEntry: false });
    if (!st) return;
    token = `empty-${st.ino}-${st.mtimeMs}`;
  }
  const tombstone = `${mutex}.reclaim,${token}`;
  try {
    fs.closeSync(fs.openSync(tombstone, "wx"));
  } catch {
    const st = fs.statSync(tombstone, { throwIfNoEntry: false });
    if (st && Date.now() - st.mtimeMs > TOMBSTONE_MS) fs.rmSync(tombstone, { force: true });
    return; // another contender is reclaiming it
  }
  try {
    // Still the same stale owner (or still no owner)? Then it is ours to remove.
    if (ownerOf(mutex) !== owner) return;
    if (owner) fs.rmSync(join(mutex, owner), { force: true });
    fs.rmdirSync(mutex); // fails if an owner record appeared meanwhile: then it is alive
  } catch {
    // Gone already, or not empty: either way not ours to remove.
  } finally {
    fs.rmSync(tombstone, { force: true });
  }
}

const lockOptions = {
  realpath: false,
  stale: STALE_MS,
  fs: mutexFs,
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
      return lockfile.lockSync(dir, { ...lockOptions, lockfilePath: join(dir, MUTEX) } as lockfile.LockOptions);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT") {
        makeLockDir(dir);
        continue;
      }
      if (code !== "ELOCKED" && code !== "EEXIST") throw e;
    }
    sleepSync(delay);
    delay = Math.min(delay * 2, 1);
  }
}

/**
 * Creates a lock folder. Fails with H5TSError ENOLOCKDIR when that is not possible. In
 * the host's shared fallback folder, lock folders are open to every user, as the records
 * of all users of a file must meet there.
 */
export function makeLockDir(dir: string): void {
  try {
    fs.mkdirSync(dir);
    if (dirname(dir) === FALLBACK_ROOT) fs.chmodSync(dir, 0o777);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return;
    throw new H5TSError("ENOLOCKDIR", `cannot create lock folder ${dir}: ${code}`, { cause: e });
  }
}

/** Creates the host's fallback folder, sticky and writable by all, as /tmp is. */
export function makeFallbackRoot(): void {
  try {
    fs.mkdirSync(FALLBACK_ROOT);
    fs.chmodSync(FALLBACK_ROOT, 0o1777);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
}
