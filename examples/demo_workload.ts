// The workload of the demo, in plain h5wasm: 4 writer threads each append 20 datasets to
// one file (open "a", create_dataset, close), and writer 0 also rewrites /counter with
// the value k each time, while 2 reader threads open the file "r" 40 times each and read
// /counter, which should always hold one value (a read is torn when it does not, or
// fails). This file never imports the patch:
// demo.ts runs it once as it is and once with `node --import .../register.js`, which
// worker threads inherit.
//
//   node [--import <register.js>] dist/examples/demo_workload.js <bare|patched> <file>
//
// Prints one JSON line to stdout; HDF5's diagnostics go to stderr, as always.

import { isMainThread, workerData } from "node:worker_threads";
import h5wasm, { type Dataset } from "h5wasm/node";
import { isPatched } from "../src/index.js"; // only to report that the preload reached each thread
import { barrier, newBarrier, reply, runWorker } from "./shared.js";

const WRITERS = 4;
const APPENDS = 20;
const READERS = 2;
const READS = 40;
const COUNTER = 1000;

interface Job {
  filename: string;
  role: "writer" | "reader";
  id: number;
  start: Int32Array;
}

interface Outcome {
  patched: boolean;
  reads: number;
  tornReads: number;
  failedReads: number;
  /** h5wasm calls that threw (most failures are reported on stderr only). */
  exceptions: number;
  startedAt: number;
  endedAt: number;
}

const now = () => performance.timeOrigin + performance.now(); // comparable across threads
const datasetName = (writer: number, j: number) => `w${writer}_${j}`;

await h5wasm.ready;

if (isMainThread) await main();
else await reply(() => work(workerData as Job));

function work({ filename, role, id, start }: Job): Outcome {
  barrier(start, WRITERS + READERS);
  const startedAt = now();
  let reads = 0;
  let tornReads = 0;
  let failedReads = 0;
  let exceptions = 0;
  if (role === "writer") {
    for (let j = 0; j < APPENDS; j++) {
      // Errors are what the bare run is expected to produce: keep going, count the result at the end.
      try {
        const file = new h5wasm.File(filename, "a");
        try {
          file.create_dataset({ name: datasetName(id, j), data: new Float64Array([id, j]) });
          if (id === 0) (file.get("/counter") as Dataset).write_slice([], new Float64Array(COUNTER).fill(j + 1));
        } finally {
          file.close();
        }
      } catch {
        exceptions++; // the file is damaged; keep going, what is left is counted at the end
      }
    }
  } else {
    for (let r = 0; r < READS; r++, reads++) {
      const read = readCounter(filename);
      if (read !== "whole") tornReads++;
      if (read !== "whole" && read !== "mixed") failedReads++;
      if (read === "threw") exceptions++;
    }
  }
  return { patched: isPatched(), reads, tornReads, failedReads, exceptions, startedAt, endedAt: now() };
}

/** Reads /counter: "whole" when all its elements hold one value, "mixed" when not. */
function readCounter(filename: string): "whole" | "mixed" | "failed" | "threw" {
  try {
    const file = new h5wasm.File(filename, "r");
    if (file.file_id < 0n) return "failed";
    try {
      const values = (file.get("/counter") as Dataset | null)?.value;
      if (!(values instanceof Float64Array) || values.length !== COUNTER) return "failed";
      return values.every((v) => v === values[0]) ? "whole" : "mixed";
    } finally {
      file.close();
    }
  } catch {
    return "threw";
  }
}

/** How many of the datasets the writers appended are in the file now. */
function countPresent(filename: string): number {
  try {
    const file = new h5wasm.File(filename, "r");
    if (file.file_id < 0n) return 0;
    try {
      const names = new Set(file.keys());
      let n = 0;
      for (let w = 0; w < WRITERS; w++) for (let j = 0; j < APPENDS; j++) if (names.has(datasetName(w, j))) n++;
      return n;
    } finally {
      file.close();
    }
  } catch {
    return 0; // too damaged to open
  }
}

async function main(): Promise<void> {
  const [run, filename] = process.argv.slice(2);
  if ((run !== "bare" && run !== "patched") || !filename) {
    throw new Error("usage: demo_workload.js <bare|patched> <file>");
  }
  const file = new h5wasm.File(filename, "w");
  try {
    file.create_dataset({ name: "counter", data: new Float64Array(COUNTER) });
  } finally {
    file.close();
  }

  const self = new URL(import.meta.url);
  const start = newBarrier();
  const jobs: Job[] = [
    ...Array.from({ length: WRITERS }, (_, id): Job => ({ filename, role: "writer", id, start })),
    ...Array.from({ length: READERS }, (_, id): Job => ({ filename, role: "reader", id, start })),
  ];
  // A thread that died (HDF5 aborting on a damaged file) is counted, not fatal: the demo wants the numbers.
  const settled = await Promise.allSettled(jobs.map((job) => runWorker<Outcome>(self, job)));
  const outcomes = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  for (const s of settled) if (s.status === "rejected") console.error(s.reason);

  const result = {
    run,
    patched: isPatched() && outcomes.every((o) => o.patched),
    appendsAttempted: WRITERS * APPENDS,
    appendsPresent: countPresent(filename),
    tornReads: outcomes.reduce((n, o) => n + o.tornReads, 0),
    failedReads: outcomes.reduce((n, o) => n + o.failedReads, 0),
    exceptions: outcomes.reduce((n, o) => n + o.exceptions, 0),
    reads: outcomes.reduce((n, o) => n + o.reads, 0),
    crashedThreads: jobs.length - outcomes.length,
    seconds: (Math.max(...outcomes.map((o) => o.endedAt)) - Math.min(...outcomes.map((o) => o.startedAt))) / 1000,
  };
  console.log(JSON.stringify(result));
}
