// The floor of the 4-writer row: worker threads running bare h5wasm, taking turns under a
// mutex that is one Int32 in a SharedArrayBuffer. Taking it is one compareExchange; a
// waiter sleeps in the kernel (Atomics.wait) and is woken by the releaser's notify. It
// touches no file, makes no system call when free and cannot go stale, so it costs less
// than any lock that works across threads can; and the HDF5 work under it (each thread
// reopening the file in its own heap) is what any correct lock must let happen one at a
// time. Threads of one process only: nothing here survives a crash or reaches a process.
// IdealFlock, below, is the same floor between processes, for the hand-off row.

import { openSync, readFileSync } from "node:fs";
import { constants } from "node:os";
import { procLocksKey, unflock } from "../src/native/flock.js";
import { libcFailure, loadLibc } from "../src/process/libc.js";

const osc = constants;
const FREE = 0;
const TAKEN = 1;

/** A new mutex's memory, to pass to each worker in workerData: the mutex, and how many wait. */
export function idealLockBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT);
}

export class IdealLock {
  readonly #cell: Int32Array;
  readonly #waiting: Int32Array;

  constructor(buffer: SharedArrayBuffer) {
    this.#cell = new Int32Array(buffer, 0, 1);
    this.#waiting = new Int32Array(buffer, 4, 1);
  }

  /** Blocks the thread until it holds the lock. */
  acquire(): void {
    if (Atomics.compareExchange(this.#cell, 0, FREE, TAKEN) === FREE) return;
    Atomics.add(this.#waiting, 0, 1);
    // Taken by someone else: sleep until the cell changes from TAKEN, then try again.
    while (Atomics.compareExchange(this.#cell, 0, FREE, TAKEN) !== FREE) Atomics.wait(this.#cell, 0, TAKEN);
    Atomics.sub(this.#waiting, 0, 1);
  }

  /** Threads waiting for it now (the hand-off benchmark releases once one waits). */
  get waiting(): number {
    return Atomics.load(this.#waiting, 0);
  }

  release(): void {
    Atomics.store(this.#cell, 0, FREE);
    Atomics.notify(this.#cell, 0, 1); // one waiter is enough: only one can take it
  }
}

/**
 * The floor of the hand-off between processes: a blocking flock(2) on a file beside the
 * data file, through koffi. The kernel hands the lock to the waiter it blocked; nothing
 * looks or polls. (No Node program can wake another process faster than the kernel's
 * own lock queue.)
 */
export class IdealFlock {
  readonly #fd: number;
  readonly #key: string | undefined;

  constructor(file: string) {
    const path = `${file}.ideal-lock`;
    this.#fd = openSync(path, "a");
    this.#key = procLocksKey(path);
  }

  acquire(): void {
    const libc = loadLibc();
    if (!libc) throw new Error(`the ideal flock needs koffi: ${libcFailure()}`);
    while (libc.flock(this.#fd, LOCK_EX) !== 0) if (libc.errno() !== EINTR) throw new Error(`flock: errno ${libc.errno()}`);
  }

  release(): void {
    unflock(this.#fd);
  }

  /** Someone is blocked waiting for it (a "->" line of /proc/locks on its inode). */
  get waiting(): number {
    const key = this.#key;
    if (key === undefined) return 0;
    return readFileSync("/proc/locks", "latin1")
      .split("\n")
      .filter((line) => line.includes("->") && line.includes(` ${key} `)).length;
  }
}

const LOCK_EX = 2;
const EINTR = osc.errno.EINTR;
