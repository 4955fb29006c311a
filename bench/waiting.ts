// What a wait costs the waiting process: a holder process keeps a file open `a` for a few
// seconds while N worker threads of this process wait for it with a synchronous `a`; the
// CPU this process uses over the wait (process.cpuUsage counts all its threads), as a
// share of one core. With and without the folder watch (H5TS_WATCH=0), one after the other.
//   node dist/bench/waiting.js [holdMs]   -> one line per case on stdout

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";

const SELF = fileURLToPath(import.meta.url);
const REGISTER = fileURLToPath(new URL("../src/register.js", import.meta.url));
const h5wasm = (await import("h5wasm/node")).default;

if (!isMainThread) {
  // A waiter: ready, then one synchronous open when told.
  await h5wasm.ready;
  parentPort!.postMessage("ready");
  await new Promise((r) => parentPort!.once("message", r));
  new h5wasm.File(workerData as string, "a").close();
  parentPort!.postMessage("done");
} else if (process.argv[2] === "--hold") {
  // The holder, in its own process.
  await import(REGISTER);
  await h5wasm.ready;
  const f = new h5wasm.File(process.argv[3], "a");
  process.stdout.write("holding\n");
  setTimeout(() => f.close(), Number(process.argv[4]));
} else {
  await import(REGISTER);
  await h5wasm.ready;
  const holdMs = Number(process.argv[2] ?? 3000);
  const dir = mkdtempSync(join(tmpdir(), "h5ts-waiting-"));
  try {
    for (const watch of ["1", "0"]) {
      process.env.H5TS_WATCH = watch; // read when a wait begins (lock/watch.ts), inherited by workers
      for (const n of [1, 2, 3]) {
        const file = join(dir, `w${watch}-${n}.h5`);
        new h5wasm.File(file, "w").close();
        const workers = Array.from({ length: n }, () => new Worker(SELF, { workerData: file }));
        await Promise.all(workers.map((w) => new Promise((r) => w.once("message", r))));
        const holder = spawn(process.execPath, [SELF, "--hold", file, String(holdMs)], { stdio: ["ignore", "pipe", "inherit"] });
        await new Promise((r) => holder.stdout!.once("data", r));
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        workers.forEach((w) => w.postMessage("go"));
        await Promise.all(workers.map((w) => new Promise((r) => w.once("message", r))));
        const c = process.cpuUsage(c0);
        const wall = performance.now() - t0;
        await Promise.all(workers.map((w) => w.terminate()));
        console.log(`watch ${watch === "1" ? "on " : "off"}, ${n} waiter(s): waited ${wall.toFixed(0)} ms, the waiting process used ${(((c.user + c.system) / 1000 / wall) * 100).toFixed(0)} % of one core`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
