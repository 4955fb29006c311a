// Waking waiters in this process at once: a release bumps a counter shared by the
// process's threads (shared-memory.ts) and wakes the threads sleeping on it; other
// processes find out by polling.

import { WAKE, bump, sharedCells } from "../process/shared-memory.js";

/** Shares the counters with workers started from now on. */
export function prepareWake(): void {
  sharedCells();
}

/** The counter now: read it before looking, and sleep only if it has not moved since. */
export function generation(): number {
  return Atomics.load(sharedCells(), WAKE);
}

/** Something was let go: wake every thread of this process that sleeps on the counter. */
export function wakeAll(): void {
  bump(WAKE);
}

/** Sleeps up to `ms`, or until the counter moves from `seen`. */
export function sleepUntilWoken(seen: number, ms: number): void {
  Atomics.wait(sharedCells(), WAKE, seen, ms);
}
