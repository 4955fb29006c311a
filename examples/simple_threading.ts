// PyTables' simple_threading.py, ported with the explicit API. Each worker thread opens
// the same file for reading, reads its block of rows, sums it and closes the file; file
// handles are never shared between threads. openFile takes a shared lock, so the readers
// run side by side, and would wait for (and hold off) any writer of the file.
//
//   node dist/examples/simple_threading.js [filename] [h5path] [nthreads]

import { existsSync } from "node:fs";
import { isMainThread, workerData } from "node:worker_threads";
import h5wasm from "h5wasm/node";
import { openFile } from "../src/index.js";
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
  using file = openFile(filename, "r"); // closed (and its lock given back) on return or throw
  const data = datasetAt(file, h5path).slice([rows]);
  return new ExactSum().addAll(numbersOf(data)).partials;
}

async function main(): Promise<void> {
  const { filename, h5path, nthreads } = meanArgs();

  // generate the test data
  if (!existsSync(filename)) {
    using file = openFile(filename, "w");
    writeTestArray(file, h5path);
  }
  let shape: number[];
  {
    using file = openFile(filename, "r");
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
