// A pool of worker threads appending to one HDF5 file, in plain h5wasm plus the patch.
// Each worker opens the file with "a" for every dataset it adds, as independent jobs
// would. Without the patch the workers overwrite each other's changes: datasets are lost
// and opens fail, reported mostly on stderr only. With it, each open waits while another
// worker has the file open, and every append lands.
//
//   node dist/examples/worker_pool.js [filename] [workers] [appends]

import "../src/register.js"; // in an application: import "h5-threadsafe/patch";
import { isMainThread, workerData } from "node:worker_threads";
import h5wasm from "h5wasm/node";
import { barrier, fileOrTemporary, newBarrier, positiveInt, reply, runWorker } from "./shared.js";

interface Job {
  filename: string;
  worker: number;
  workers: number;
  appends: number;
  start: Int32Array;
}

const datasetName = (worker: number, j: number) => `w${worker}_${j}`;

await h5wasm.ready; // every thread has its own h5wasm, loaded here

if (isMainThread) await main();
else await reply(() => work(workerData as Job));

function work({ filename, worker, workers, appends, start }: Job): void {
  barrier(start, workers); // all start together, so they really contend for the file
  for (let j = 0; j < appends; j++) {
    const file = new h5wasm.File(filename, "a");
    if (file.file_id < 0n) throw new Error(`cannot open ${filename}`); // h5wasm does not throw
    try {
      file.create_dataset({ name: datasetName(worker, j), data: new Float64Array([worker, j]) });
    } finally {
      file.close();
    }
  }
}

async function main(): Promise<void> {
  const [given, workersArg, appendsArg] = process.argv.slice(2);
  const filename = fileOrTemporary(given, "worker_pool.h5");
  const workers = positiveInt(workersArg, 4, "workers");
  const appends = positiveInt(appendsArg, 10, "appends");

  new h5wasm.File(filename, "w").close(); // a fresh, empty file: the count below is this run's

  const self = new URL(import.meta.url);
  const start = newBarrier();
  const jobs = Array.from({ length: workers }, (_, worker): Job => ({ filename, worker, workers, appends, start }));
  const results = await Promise.allSettled(jobs.map((job) => runWorker<void>(self, job)));
  for (const result of results) if (result.status === "rejected") throw result.reason;

  const file = new h5wasm.File(filename, "r");
  if (file.file_id < 0n) throw new Error(`cannot open ${filename}`);
  let names: Set<string>;
  try {
    names = new Set(file.keys());
  } finally {
    file.close();
  }
  const expected = jobs.flatMap(({ worker }) => Array.from({ length: appends }, (_, j) => datasetName(worker, j)));
  const present = expected.filter((name) => names.has(name)).length;
  console.log(`${present} of ${expected.length} datasets present (${workers} workers × ${appends} appends)`);
  if (present !== expected.length) process.exitCode = 1;
}
