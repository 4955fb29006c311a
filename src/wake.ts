// Waking waiters in this process at once. Every thread of a process that loaded this
// package before starting its workers (always so with `--import h5-threadsafe/patch`)
// shares one counter: worker_threads' environment data is copied into each new worker,
// and a SharedArrayBuffer copied that way is the same memory. A release bumps the counter
// and wakes the threads sleeping on it; other processes find out by polling.

import { getEnvironmentData, setEnvironmentData } from "node:worker_threads";

const KEY = "h5-threadsafe.wake.v1";
let cell: Int32Array | undefined;

function shared(): Int32Array {
  if (cell) return cell;
  let sab = getEnvironmentData(KEY);
  if (!(sab instanceof SharedArrayBuffer)) {
    sab = new SharedArrayBuffer(4);
    setEnvironmentData(KEY, sab); // for the workers this thread starts from now on
  }
  return (cell = new Int32Array(sab as SharedArrayBuffer));
}

/** Shares the counter with workers started from now on. */
export function prepareWake(): void {
  shared();
}

/** The counter now: read it before looking, and sleep only if it has not moved since. */
export function generation(): number {
  return Atomics.load(shared(), 0);
}

/** Something was let go: wake every thread of this process that sleeps on the counter. */
export function wakeAll(): void {
  const c = shared();
  Atomics.add(c, 0, 1);
  Atomics.notify(c, 0);
}

/** Sleeps up to `ms`, or until the counter moves from `seen`. */
export function sleepUntilWoken(seen: number, ms: number): void {
  Atomics.wait(shared(), 0, seen, ms);
}
