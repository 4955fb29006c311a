// A benchmark participant: a worker thread (or the main thread of a child process) that
// loads h5wasm once, with the patch, bare, or with the naive lock (or, threads only, bare
// under the ideal in-process lock: ideal-lock.ts), then runs jobs on command and reports
// timings. Timing starts only after everything is loaded ("warm").

import { writeFileSync } from "node:fs";
import { isMainThread, parentPort, workerData } from "node:worker_threads";
import { canonicalPath } from "../src/lock/path.js";
import { acquireSync } from "../src/lock/wait.js";
import { inspect } from "../src/index.js";
import { IdealFlock, IdealLock } from "./ideal-lock.js";
import { naiveLock, sleepSync } from "./naive.js";

export type Variant = "bare" | "patched" | "naive";
/** What a participant can run: the three variants, or bare h5wasm under the ideal lock (threads only). */
export type WorkerVariant = Variant | "ideal";

const variant: WorkerVariant = isMainThread ? (process.argv[2] as WorkerVariant) : workerData.variant;
// Shared by all "ideal" threads of a pool: the buffer came in workerData.
const ideal = variant === "ideal" && !isMainThread ? new IdealLock(workerData.lock) : undefined;
// A child process's ideal lock (hand-off between processes): a blocking flock, per file.
const idealFlocks = new Map<string, IdealFlock>();
const idealFlock = (file: string) => (variant === "ideal" && isMainThread ? (idealFlocks.get(file) ?? idealFlocks.set(file, new IdealFlock(file)).get(file)!) : undefined);
if (variant === "patched") await import("../src/register.js");
const h5wasm = (await import("h5wasm/node")).default;
await h5wasm.ready;

const send = (m: unknown) => (parentPort ? parentPort.postMessage(m) : process.send!(m));
const now = () => performance.timeOrigin + performance.now();

/** Opens, runs fn, closes: under the naive lock or the ideal lock for those variants. */
function withOpen<T>(file: string, mode: "r" | "a", fn: (f: InstanceType<typeof h5wasm.File>) => T): T {
  const unlock = variant === "naive" ? naiveLock(file) : undefined;
  ideal?.acquire(); // held from before the open to after the close, as the patch holds its lock
  try {
    const f = new h5wasm.File(file, mode);
    try {
      return fn(f);
    } finally {
      f.close();
    }
  } finally {
    ideal?.release();
    unlock?.();
  }
}

function sumRows(file: string, start: number, end: number): number {
  return withOpen(file, "r", (f) => {
    const ds = f.get("array") as any;
    const rows = ds.slice([[start, end]]) as Float64Array;
    let s = 0;
    for (let i = 0; i < rows.length; i++) s += rows[i];
    return s;
  });
}

/** Waits until someone waits for `file` (idle records left by earlier rounds do not count). */
function awaitWaiter(file: string): void {
  while (inspect(file).waiters.length === 0) sleepSync(0.05);
}

const jobs: Record<string, (c: any) => unknown> = {
  read(c) {
    const t0 = now();
    let sum = 0;
    for (let i = 0; i < c.rounds; i++) sum += sumRows(c.file, c.start, c.end);
    return { ms: now() - t0, sum };
  },
  append(c) {
    const t0 = now();
    for (let i = 0; i < c.count; i++) {
      withOpen(c.file, "a", (f) => f.create_dataset({ name: `${c.prefix}_${i}`, data: new Float64Array([i]) }));
    }
    return { ms: now() - t0 };
  },
  // Hand-off: hold the lock until the other side waits (the naive lock cannot tell: a
  // fixed pause), then release and say when.
  hold(c) {
    const path = canonicalPath(c.file);
    const floor = ideal ?? idealFlock(c.file);
    const lock = variant === "naive" ? naiveLock(c.file) : floor ? (floor.acquire(), () => floor.release()) : acquireSync(path, "exclusive");
    // Only now may the waiter start: a request marks its record as holding before it
    // looks, so the lock folder alone would show a holder too early (and the waiter,
    // started then, could take the lock first and be gone before this side waits for it).
    writeFileSync(`${c.file}.holding`, "");
    if (variant === "naive") sleepSync(c.waitMs);
    else {
      if (floor) while (floor.waiting === 0) sleepSync(0.05);
      else awaitWaiter(c.file);
      if (c.afterMs) sleepSync(c.afterMs); // the waiter's looks back off meanwhile
    }
    const t = now();
    typeof lock === "function" ? lock() : lock.release();
    return { releasedAt: t };
  },
  take(c) {
    const path = canonicalPath(c.file);
    const floor = ideal ?? idealFlock(c.file);
    const lock = variant === "naive" ? naiveLock(c.file) : floor ? (floor.acquire(), () => floor.release()) : acquireSync(path, "exclusive");
    const t = now();
    typeof lock === "function" ? lock() : lock.release();
    return { acquiredAt: t };
  },
  // Recovery: hold a file open for writing until killed.
  holdOpen(c) {
    if (variant === "naive") naiveLock(c.file);
    new h5wasm.File(c.file, "a");
    return {};
  },
};

// Each job starts from a collected heap: a 4 MB read per open makes GC pauses the
// largest noise between rounds otherwise.
const gc = (globalThis as { gc?: () => void }).gc;

const onMessage = (c: any) => {
  gc?.();
  // Replies go out after the job; a job that blocks (take) answers when it is done.
  setImmediate(() => send({ id: c.id, value: jobs[c.job](c) }));
};
if (parentPort) parentPort.on("message", onMessage);
else process.on("message", onMessage);
send({ ready: true });
