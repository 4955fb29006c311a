// What the examples have in common and is not the point of any of them: argument
// parsing, the test data, worker plumbing, a start barrier and an exact sum. Opening
// and closing files stays in each example, since that is what they show.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker, parentPort } from "node:worker_threads";
import h5wasm, { type Dataset, type Group } from "h5wasm/node";

/**
 * The file an example was told to use, or else `name` in a temporary folder that goes when
 * the process exits: an example run without arguments leaves nothing behind.
 */
export function fileOrTemporary(given: string | undefined, name: string): string {
  if (given) return given;
  const dir = mkdtempSync(join(tmpdir(), "h5-threadsafe-example-"));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  return join(dir, name);
}

/** Rows and columns of the test array, as in the PyTables example. */
export const SIZE = 100;

/** A positional argument that must be a positive integer. */
export function positiveInt(raw: string | undefined, fallback: number, what: string): number {
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${what} must be a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}

export interface MeanArgs {
  filename: string;
  h5path: string;
  nthreads: number;
}

/** [filename] [h5path] [nthreads] of the two mean examples. */
export function meanArgs(argv: string[] = process.argv.slice(2)): MeanArgs {
  const [filename, h5path = "/array", nthreads] = argv;
  return { filename: fileOrTemporary(filename, "simple_threading.h5"), h5path, nthreads: positiveInt(nthreads, 5, "nthreads") };
}

/**
 * Writes a SIZE×SIZE array of random float64 at `h5path` in a file open for writing,
 * creating its parent groups: h5wasm's create_dataset does not, and fails silently
 * (diagnostics on stderr only) when one is missing.
 */
export function writeTestArray(file: Group, h5path: string): void {
  const parts = h5path.split("/").filter(Boolean);
  const name = parts.pop();
  if (!name) throw new Error(`h5path must name a dataset, got ${JSON.stringify(h5path)}`);
  let group = file;
  for (const part of parts) {
    const next = group.get(part);
    if (next === null) group = group.create_group(part);
    else if (next instanceof h5wasm.Group) group = next;
    else throw new Error(`cannot create ${h5path}: ${part} exists and is not a group`);
  }
  const data = Float64Array.from({ length: SIZE * SIZE }, Math.random);
  group.create_dataset({ name, data, shape: [SIZE, SIZE] });
  datasetAt(file, h5path); // h5wasm reports a failed create on stderr only
}

/** The dataset at `h5path`, which must have at least one dimension. */
export function datasetAt(file: Group, h5path: string): Dataset {
  const node = file.get(h5path);
  if (!(node instanceof h5wasm.Dataset)) throw new Error(`no dataset at ${h5path}`);
  if (!node.shape?.length) throw new Error(`${h5path} has no dimensions to split into rows`);
  return node;
}

/** Splits `rows` into at most `parts` contiguous [start, end) ranges of nearly equal size. */
export function splitRows(rows: number, parts: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < parts; i++) {
    const start = Math.floor((rows * i) / parts);
    const end = Math.floor((rows * (i + 1)) / parts);
    if (end > start) out.push([start, end]); // more threads than rows: no empty reads
  }
  return out;
}

/**
 * A sum with no rounding error until `value()` (Shewchuk's algorithm, as Python's
 * math.fsum), so the mean does not depend on how the rows were split among threads.
 */
export class ExactSum {
  /** Non-overlapping partial sums, smallest magnitude first; their exact sum is the total. */
  readonly partials: number[] = [];
  #special = 0; // infinities and NaN, which the partials cannot hold

  add(x: number): void {
    if (!Number.isFinite(x)) {
      this.#special += x;
      return;
    }
    const p = this.partials;
    let i = 0;
    for (let y of p) {
      if (Math.abs(x) < Math.abs(y)) [x, y] = [y, x];
      const hi = x + y;
      const lo = y - (hi - x);
      if (lo !== 0) p[i++] = lo;
      x = hi;
    }
    p.length = i;
    p.push(x);
  }

  addAll(values: Iterable<number>): this {
    for (const v of values) this.add(v);
    return this;
  }

  /** The exact total, correctly rounded to a float64. */
  value(): number {
    if (this.#special !== 0) return this.#special; // NaN !== 0 too
    const p = this.partials;
    let n = p.length;
    if (n === 0) return 0;
    let hi = p[--n];
    let lo = 0;
    while (n > 0) {
      const x = hi;
      const y = p[--n];
      hi = x + y;
      lo = y - (hi - x);
      if (lo !== 0) break;
    }
    // hi + lo was a tie, rounded to even; the partials left over break the tie.
    if (n > 0 && ((lo < 0 && p[n - 1] < 0) || (lo > 0 && p[n - 1] > 0))) {
      const y = lo * 2;
      const x = hi + y;
      if (y === x - hi) hi = x;
    }
    return hi;
  }
}

/** The numbers in what Dataset.slice returns; anything else is not something to sum. */
export function numbersOf(data: unknown): Iterable<number> {
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Array.from(data, Number);
  if (ArrayBuffer.isView(data) && !(data instanceof DataView)) return data as unknown as Iterable<number>;
  if (Array.isArray(data) && data.every((v) => typeof v === "number")) return data as number[];
  throw new Error("the dataset is not numeric");
}

// Errors cross the thread boundary as plain data: a structured clone would drop `code`.
interface WireError {
  name: string;
  message: string;
  code?: unknown;
  stack?: string;
}
type Reply<T> = { ok: true; value: T } | { ok: false; error: WireError };

/** Worker side: runs `job` and posts its result, or the error it threw, to the main thread. */
export async function reply<T>(job: () => T | Promise<T>): Promise<void> {
  let message: Reply<T>;
  try {
    message = { ok: true, value: await job() };
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    message = { ok: false, error: { name: err.name, message: err.message, code: (err as { code?: unknown }).code, stack: err.stack } };
  }
  parentPort!.postMessage(message);
}

/**
 * Main side: starts a worker on `entry` and settles once it has exited (so, like a
 * thread join, nothing is left running), with its reply or its error rethrown here.
 */
export function runWorker<T>(entry: URL, workerData: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(entry, { workerData });
    let answer: Reply<T> | undefined;
    let crash: unknown;
    worker.on("message", (m: Reply<T>) => (answer = m));
    worker.on("error", (e) => (crash = e));
    worker.on("exit", (code) => {
      if (answer?.ok) resolve(answer.value);
      else if (answer) {
        const { name, message, code: errCode, stack } = answer.error;
        reject(Object.assign(new Error(message), { name, stack }, errCode === undefined ? {} : { code: errCode }));
      } else reject(crash ?? new Error(`worker exited with code ${code} before replying`));
    });
  });
}

/**
 * A start line for `parties` workers: each blocks here until all have arrived, so that
 * they really contend for the file instead of running one after another as they load.
 * Gives up after `timeoutMs` (a worker that failed to start must not hang the others).
 */
export function barrier(cell: Int32Array, parties: number, timeoutMs = 30_000): void {
  if (Atomics.add(cell, 0, 1) + 1 >= parties) {
    Atomics.notify(cell, 0);
    return;
  }
  const deadline = performance.now() + timeoutMs;
  for (let seen = Atomics.load(cell, 0); seen < parties; seen = Atomics.load(cell, 0)) {
    const left = deadline - performance.now();
    if (left <= 0) throw new Error(`only ${seen} of ${parties} workers reached the start line`);
    Atomics.wait(cell, 0, seen, left);
  }
}

/** A fresh barrier cell to pass in workerData. */
export function newBarrier(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(4));
}
