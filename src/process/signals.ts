// On SIGINT, SIGTERM or SIGHUP, when no handler of the user's keeps the process alive, the
// main thread closes its files and then asks every worker thread with open files to close
// theirs (a BroadcastChannel message), waiting up to CLOSE_WAIT_MS for them to say so in
// the shared counters; then the process dies by the signal as it would have. A worker
// busy in a long synchronous call cannot answer in time: its files are not flushed, but
// its locks are released all the same, as its holders are gone. (A worker blocked waiting
// for a lock answers from inside its wait: answerCloseRequest.) While the main thread is
// blocked waiting for a lock, the hook steps aside (signalsUnhandledDuring), so that a
// signal still ends the process at once.

import { BroadcastChannel, isMainThread } from "node:worker_threads";
import { onExit } from "signal-exit";
import { CLOSED_THREADS, CLOSE_REQUESTS, OPEN_THREADS, WAKE, bump, sharedCells } from "./shared-memory.js";

const CHANNEL = "h5-threadsafe.close-all.v1";
const CLOSE_WAIT_MS = 3000;

/** This thread has open files (true) or none left (false): counted for the main thread. */
export function countOpenThread(open: boolean): void {
  Atomics.add(sharedCells(), OPEN_THREADS, open ? 1 : -1);
}

/**
 * Hooks `closeAll` (this thread's registry) to the signals: in the main thread, through
 * signal-exit; in a worker, to the main thread's request.
 */
export function onSignalClose(closeAll: (why: string) => void): void {
  if (isMainThread) {
    // signal-exit calls back only when no handler of the user's would keep the process
    // alive, and re-raises the signal after. (Version 4 also counts version 3's listeners.)
    const onSignal = (_code: number | null | undefined, signal: NodeJS.Signals | null) => {
      if (!signal) return;
      closeAll(signal);
      closeWorkers();
    };
    mainHook = { onSignal, remove: hookSignals(onSignal) };
  } else {
    // Each request is answered once: by the message, or from inside a synchronous wait
    // for a lock (answerCloseRequest), where the thread's event loop cannot run.
    let answered = Atomics.load(sharedCells(), CLOSE_REQUESTS);
    workerAnswer = (why) => {
      const request = Atomics.load(sharedCells(), CLOSE_REQUESTS);
      if (request === answered) return;
      answered = request;
      try {
        closeAll(why);
      } finally {
        bump(CLOSED_THREADS);
      }
    };
    const channel = new BroadcastChannel(CHANNEL);
    channel.unref(); // listening must not keep a finished worker alive
    channel.onmessage = (event) => workerAnswer?.(String((event as MessageEvent).data));
  }
}

let workerAnswer: ((why: string) => void) | undefined;

/**
 * In a worker blocked in a synchronous wait for a lock: answers the main thread's request
 * to close its files (made on a signal), which its event loop cannot deliver now.
 */
export function answerCloseRequest(): void {
  workerAnswer?.("signal");
}

let mainHook: { onSignal: Parameters<typeof onExit>[0]; remove: () => void } | undefined;

const KEEPS_13 = Symbol.for("h5-threadsafe.exit-13.v1");

/**
 * signal-exit's onExit, and the exit code Node gives a program whose top-level await never
 * settled (13). signal-exit (4.1) sets process.exitCode from the 'exit' event's code before
 * any listener runs, so Node's own listener for that case (`process.exitCode ??= 13`)
 * found 0, and such a program exited 0 under the patch. Around signal-exit's hook, an
 * 'exit' with no exit code set while that listener of Node's still waits carries 13.
 */
function hookSignals(onSignal: Parameters<typeof onExit>[0]): () => void {
  const remove = onExit(onSignal);
  const emit = process.emit as ((event: string | symbol, ...args: unknown[]) => boolean) & { [KEEPS_13]?: true };
  if (!emit[KEEPS_13]) {
    const wrapped = Object.assign(
      function (this: NodeJS.Process, event: string | symbol, ...args: unknown[]) {
        if (event === "exit" && args[0] === 0 && process.exitCode === undefined && process.listeners("exit").some((l) => l.name === "handleProcessExit")) args[0] = 13;
        return emit.call(this, event, ...args);
      },
      { [KEEPS_13]: true as const },
    );
    process.emit = wrapped as unknown as typeof process.emit;
  }
  return remove;
}

/**
 * Runs `fn`, which blocks the main thread (a synchronous wait for a lock), so that a signal
 * still ends the process at once, by its default action: the handler above could run only
 * once the wait is over, so it steps aside meanwhile (when it was signal-exit's only user,
 * the signals are back to their defaults; a handler of the user's or of another library
 * keeps them, as it would without this package).
 */
export function signalsUnhandledDuring<T>(fn: () => T): T {
  const hook = mainHook;
  if (!hook) return fn();
  hook.remove();
  try {
    return fn();
  } finally {
    hook.remove = hookSignals(hook.onSignal);
  }
}

function closeWorkers(): void {
  const c = sharedCells();
  const expected = Atomics.load(c, OPEN_THREADS);
  if (expected <= 0) return;
  const before = Atomics.load(c, CLOSED_THREADS);
  Atomics.add(c, CLOSE_REQUESTS, 1);
  const channel = new BroadcastChannel(CHANNEL);
  channel.postMessage("signal");
  channel.close();
  bump(WAKE); // workers asleep in a wait for a lock look at the request when they wake
  const end = Date.now() + CLOSE_WAIT_MS;
  for (;;) {
    const closed = Atomics.load(c, CLOSED_THREADS);
    const left = end - Date.now();
    if (closed - before >= expected || left <= 0) return;
    Atomics.wait(c, CLOSED_THREADS, closed, left);
  }
}
