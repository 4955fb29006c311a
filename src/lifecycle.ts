// What becomes of a thread's open files when it ends: they are closed at normal exit, and
// on SIGINT/SIGTERM/SIGHUP when no handler of the user's keeps the process alive
// (process/signals.ts), so that a writer's data is saved, not corrupted; then the lock's
// idle records are swept, as no timer will get to them.

import { settings } from "./config.js";
import { debug } from "./debug.js";
import { warnNow } from "./errors.js";
import { sweep } from "./lock/idle.js";
import { onSignalClose } from "./process/signals.js";
import { openFiles } from "./registry.js";

// Per thread, shared by every copy of the package in it: each hook once.
const KEY = Symbol.for("h5-threadsafe.lifecycle.v1");
const hooks = ((globalThis as { [KEY]?: { exit: boolean; signals: boolean; openedSinceLook: boolean } })[KEY] ??= { exit: false, signals: false, openedSinceLook: false });

/** Closes this thread's files at exit and on the signals (called on each open). */
export function closeAtExit(): void {
  hooks.openedSinceLook = true;
  if (hooks.exit) return;
  hooks.exit = true;
  process.on("exit", () => closeLeftOpen("exit"));
  // A signal that came while the program was busy in synchronous code waits, caught, for
  // the event loop; if the loop is about to end, it would be lost (the process would exit
  // with 0, where bare Node dies by the signal). One more turn lets it be handled.
  process.on("beforeExit", () => {
    if (!hooks.openedSinceLook) return;
    hooks.openedSinceLook = false;
    setImmediate(() => {});
  });
  watchSignals();
}

/**
 * Closes this thread's files on SIGINT/SIGTERM/SIGHUP. The patch calls it in the main
 * thread at once: the main thread must close the workers' files too, whether or not it
 * opens any itself.
 */
export function watchSignals(): void {
  if (hooks.signals) return;
  hooks.signals = true;
  onSignalClose((signal) => closeLeftOpen(signal));
}

function closeLeftOpen(why: string): void {
  const files = openFiles();
  if (files.size === 0) return;
  if (settings().warnUnclosed) {
    warnNow("H5TS_UNCLOSED", `closing ${files.size} HDF5 file(s) left open at ${why}: ${files.filenames.join(", ")}`);
  }
  debug("closing %d file(s) at %s", files.size, why);
  try {
    files.closeAll();
  } catch {
    // Exiting anyway; the locks are released by closeAll.
  }
  sweep(); // the lock folders emptied just now, which no timer will get to
}
