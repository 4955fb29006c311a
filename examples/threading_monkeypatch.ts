// PyTables' threading_monkeypatch.py, ported: the same program as simple_threading.ts,
// written as plain h5wasm code. The import on the first line is the only change; it
// makes every h5wasm File take the file's lock from open to close, and makes File
// disposable, so `using` closes it (PyTables' `with`). It runs in each worker too,
// since the workers start from this same file.
//
//   node dist/examples/threading_monkeypatch.js [filename] [h5path] [nthreads]

import "../src/register.js"; // in an application: import "h5-threadsafe/patch";
import { existsSync } from "node:fs";
import { isMainThread, workerData } from "node:worker_threads";
import h5wasm from "h5wasm/node";
import { ExactSum, datasetAt, meanArgs, numbersOf, reply, runWorker, splitRows, writeTestArray } from "./shared.js";

interface Job {
  filename: string;
  h5path: string;
  rows: [number, number];
}

await h5wasm.ready; // every thread has its own h5wasm, loaded here

if (isMainThread) await main();
else await reply(() => run(workerData as Job));

/** The thread function: the sum of one block of rows, as exact partial sums. */
function run({ filename, h5path, rows }: Job): number[] {
  using file = new h5wasm.File(filename, "r");
  if (file.file_id < 0n) throw new Error(`cannot open ${filename}`); // h5wasm does not throw
  const data = datasetAt(file, h5path).slice([rows]);
  return new ExactSum().addAll(numbersOf(data)).partials;
}

async function main(): Promise<void> {
  const { filename, h5path, nthreads } = meanArgs();

  // generate the test data
  if (!existsSync(filename)) {
    using file = new h5wasm.File(filename, "w");
    if (file.file_id < 0n) throw new Error(`cannot create ${filename}`);
    writeTestArray(file, h5path);
  }
  let shape: number[];
  {
    using file = new h5wasm.File(filename, "r");
    if (file.file_id < 0n) throw new Error(`cannot open ${filename}`);
    shape = datasetAt(file, h5path).shape!; // datasetAt checked it has dimensions
  }

  // one thread per block of rows (dimension 0), each running this same file
  const self = new URL(import.meta.url);
  const jobs = splitRows(shape[0], nthreads).map((rows): Job => ({ filename, h5path, rows }));
  const results = await Promise.allSettled(jobs.map((job) => runWorker<number[]>(self, job)));

  // collect results; an error in a thread is rethrown here, once all threads have ended
  const total = new ExactSum();
  for (const result of results) {
    if (result.status === "rejected") throw result.reason;
    total.addAll(result.value);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  console.log(`Mean: ${total.value() / count}`);
}
