// A few counters shared by every thread of this process that loaded this package before
// starting its workers (always so with `--import h5-threadsafe/patch`): worker_threads'
// environment data is copied into each new worker, and a SharedArrayBuffer copied that
// way is the same memory. A thread started otherwise gets counters of its own, and what
// relies on them (waking at once, closing workers' files on a signal) falls back.

import { getEnvironmentData, setEnvironmentData } from "node:worker_threads";

/**
 * Slots: releases (wakes waiters), threads with open files, acknowledged close-alls,
 * threads watching lock folders, close-all requests made, and threads loading koffi
 * (-1 while a worker is being terminated: libc.ts).
 */
export const WAKE = 0;
export const OPEN_THREADS = 1;
export const CLOSED_THREADS = 2;
export const WATCHERS = 3;
export const CLOSE_REQUESTS = 4;
export const BINDING = 5;
const SLOTS = 6;

const KEY = "h5-threadsafe.shared.v2";
let cells: Int32Array | undefined;

/** Atomics.waitAsync: Node 20 has it; TypeScript's lib for this target does not declare it. */
export const waitAsync = (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number, ms: number): { async: boolean; value: Promise<string> | string } }).waitAsync;

/** Adds one to a counter and wakes every thread waiting on it. */
export function bump(slot: number): void {
  const c = sharedCells();
  Atomics.add(c, slot, 1);
  Atomics.notify(c, slot);
}

export function sharedCells(): Int32Array {
  if (cells) return cells;
  let sab = getEnvironmentData(KEY);
  if (!(sab instanceof SharedArrayBuffer)) {
    sab = new SharedArrayBuffer(SLOTS * 4);
    setEnvironmentData(KEY, sab); // for the workers this thread starts from now on
  }
  return (cells = new Int32Array(sab as SharedArrayBuffer));
}
