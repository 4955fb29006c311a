// Waking waiters in this process at once: a release bumps a counter shared by the
// process's threads (shared-memory.ts) and wakes the threads sleeping on it, blocked or
// not; other processes find out by their watch or by polling.

import { WAKE, bump, sharedCells, waitAsync } from "../process/shared-memory.js";

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

/**
 * As sleepUntilWoken, without blocking the event loop. The timer keeps the loop alive
 * meanwhile (a pending Atomics.waitAsync does not), and goes once the counter moves.
 */
export function sleepUntilWokenAsync(seen: number, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    const w = waitAsync(sharedCells(), WAKE, seen, ms);
    const woken = () => {
      clearTimeout(timer);
      resolve();
    };
    if (!w.async) woken(); // moved already: look again at once
    else (w.value as Promise<string>).then((why) => why === "ok" && woken());
  });
}
