// `npm run bench`: bare h5wasm, h5wasm with the patch, and a naive proper-lockfile lock,
// on the same work in the same run (alternating, several rounds, medians). Prints a
// table, writes bench/results.json and BENCHMARKS.md (with --quick: to a temporary
// folder, as its figures are too rough to keep).
//
//   node --expose-gc dist/bench/run.js [--quick]   (gc() between jobs, in every thread)

import { fork, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, hostname, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import h5wasm from "h5wasm/node";
import { inspect, patch, unpatch } from "../src/index.js";
import { resolvePath } from "../src/lock/path.js";
import { nativeLocking, tryFlock, unflock } from "../src/native/flock.js";
import { dataFileGate, releaseDataFileLock } from "../src/native/gate.js";
import { chartSvg, type ChartRow } from "./chart.js";
import { naiveLock } from "./naive.js";
import { idealLockBuffer } from "./ideal-lock.js";
import type { Variant, WorkerVariant } from "./worker.js";

const quick = process.argv.includes("--quick");
// --only <name>: one workload, for working on it (its figures are not written out).
const only = process.argv.includes("--only") ? process.argv[process.argv.indexOf("--only") + 1] : undefined;
const WORKER = fileURLToPath(new URL("./worker.js", import.meta.url));
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const VARIANTS: Variant[] = ["bare", "patched", "naive"];
const now = () => performance.timeOrigin + performance.now();
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
/**
 * A 95 % interval of the median of `xs` (bootstrap: the median of 2000 resamples, its
 * 2.5th and 97.5th percentiles), from a fixed seed so that a run's figures repeat.
 */
function medianInterval(xs: number[]): [number, number] {
  let seed = 12345;
  const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const medians = Array.from({ length: 2000 }, () => median(xs.map(() => xs[Math.floor(random() * xs.length)])));
  return [percentile(medians, 2.5), percentile(medians, 97.5)];
}
const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rotate = <T>(xs: T[], k: number) => xs.map((_, i) => xs[(i + k) % xs.length]);

/** A benchmark participant in a worker thread or a child process. */
class Participant {
  readonly #port: Worker | ChildProcess;
  readonly #waiting = new Map<number, (v: any) => void>();
  readonly ready: Promise<void>;
  readonly exited: Promise<unknown>;
  #next = 0;

  /** `data`: more workerData (threads only), e.g. the ideal lock's buffer. */
  constructor(kind: "thread" | "process", variant: WorkerVariant, data: Record<string, unknown> = {}) {
    this.#port =
      kind === "thread"
        ? new Worker(WORKER, { workerData: { ...data, variant } })
        : fork(WORKER, [variant], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    let ready!: () => void;
    this.ready = new Promise((r) => (ready = r));
    this.exited = new Promise((r) => this.#port.once("exit", r));
    this.#port.on("message", (m: any) => {
      if (m.ready) return ready();
      this.#waiting.get(m.id)?.(m.value);
      this.#waiting.delete(m.id);
    });
  }

  async run(job: string, args: Record<string, unknown> = {}): Promise<any> {
    await this.ready;
    const id = ++this.#next;
    const done = new Promise((r) => this.#waiting.set(id, r));
    const msg = { ...args, job, id };
    if (this.#port instanceof Worker) this.#port.postMessage(msg);
    else this.#port.send(msg);
    return done;
  }

  async kill(): Promise<void> {
    if (this.#port instanceof Worker) await this.#port.terminate();
    else {
      this.#port.kill("SIGKILL");
      await this.exited;
    }
  }
}

async function startAll(list: Participant[]): Promise<Participant[]> {
  await Promise.all(list.map((p) => p.ready));
  return list;
}

const dir = mkdtempSync(join(tmpdir(), "h5ts-bench-"));
const results: Record<string, any> = {};

function newFile(name: string, init?: (f: InstanceType<typeof h5wasm.File>) => void): string {
  const file = join(dir, name);
  const f = new h5wasm.File(file, "w");
  init?.(f);
  f.close();
  return file;
}

// 1. Uncontended open+close, in this thread, switching the patch on and off between rounds.
async function openClose() {
  const file = newFile("small.h5", (f) => f.create_dataset({ name: "x", data: new Float64Array(16) }));
  const n = quick ? 200 : 1000;
  const rounds = quick ? 3 : 9;
  const out: Record<string, any> = {};
  for (const mode of ["r", "a"] as const) {
    const times: Record<Variant, number[]> = { bare: [], patched: [], naive: [] };
    for (let round = -1; round < rounds; round++) {
      for (const v of rotate(VARIANTS, round + 1)) {
        if (v === "patched") await patch();
        else unpatch();
        const t0 = performance.now();
        for (let i = 0; i < n; i++) {
          const unlock = v === "naive" ? naiveLock(file) : undefined;
          new h5wasm.File(file, mode).close();
          unlock?.();
        }
        if (round >= 0) times[v].push(((performance.now() - t0) / n) * 1000); // round -1 warms up
        await sleep(1); // let deferred clean-up run, as it would between bursts
      }
    }
    unpatch();
    out[mode] = Object.fromEntries(VARIANTS.map((v) => [v, median(times[v])]));
  }
  return out;
}

// 1a. The native flock layer's cost (issue 10): the patched open+close `r` with the layer on
// and off (H5TS_NATIVE_LOCK, read on every open), one after the other in each round, order
// alternated; the figure is the median of the per-round differences, which cancels the
// machine's drift between rounds. Then the layer's own per-open calls alone.
async function nativeLayer() {
  const before = process.env.H5TS_NATIVE_LOCK;
  const restore = () => (before === undefined ? delete process.env.H5TS_NATIVE_LOCK : (process.env.H5TS_NATIVE_LOCK = before));
  const setLayer = (on: boolean) => (on ? delete process.env.H5TS_NATIVE_LOCK : (process.env.H5TS_NATIVE_LOCK = "0"));
  setLayer(true);
  const state = nativeLocking();
  if (!state.enabled) {
    restore();
    return { unavailable: state.reason };
  }
  // One file per state, alike, so that neither state's kept descriptors and idle records
  // (gate.ts, idle.ts: 250 ms) serve the other.
  const init = (f: InstanceType<typeof h5wasm.File>) => f.create_dataset({ name: "x", data: new Float64Array(16) });
  const files = { on: newFile("layer-on.h5", init), off: newFile("layer-off.h5", init) };
  const n = quick ? 400 : 2000;
  // The per-round differences spread over ±10 µs and more on a shared VM: the median of 31
  // moved by ±1.5 µs between runs of unchanged code. 91 rounds (about 45 s) halve that.
  const rounds = quick ? 7 : 91;
  const times = { on: [] as number[], off: [] as number[], diff: [] as number[] };
  await patch();
  for (let round = -1; round < rounds; round++) {
    const us = { on: 0, off: 0 };
    for (const layer of round % 2 ? (["on", "off"] as const) : (["off", "on"] as const)) {
      setLayer(layer === "on");
      const t0 = performance.now();
      for (let i = 0; i < n; i++) new h5wasm.File(files[layer], "r").close();
      us[layer] = ((performance.now() - t0) / n) * 1000;
      await sleep(1); // let deferred clean-up run, as in the open+close rows
    }
    if (round < 0) continue; // round -1 warms up
    times.on.push(us.on);
    times.off.push(us.off);
    times.diff.push(us.on - us.off);
  }
  unpatch();
  // What the layer does per open (registry.ts #request, drop; h5wasm/handover.ts): the gate
  // opens the file (checked against the stat that resolvePath makes for the lock anyway), its
  // flock, HDF5 is given the descriptor and closes it; against what HDF5 does without the
  // layer, an open and a close of its own. Paired per round, as above.
  setLayer(true);
  const { path, id } = resolvePath(files.on);
  const calls = quick ? 2000 : 10000;
  const isolated: number[] = [];
  for (let round = -1; round < rounds; round++) {
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) {
      const gate = dataFileGate(path, "shared", false, id)!;
      gate.tryPass();
      const fd = gate.lock.fd;
      gate.lock.handOver(() => false);
      closeSync(fd); // HDF5's close
      releaseDataFileLock(gate.lock);
    }
    const t1 = performance.now();
    for (let i = 0; i < calls; i++) closeSync(openSync(path, "r"));
    const t2 = performance.now();
    if (round >= 0) isolated.push(((t1 - t0 - (t2 - t1)) / calls) * 1000);
  }
  // The floor under any such layer: the flock(2) call itself (koffi, one taken and let go
  // on a descriptor held open), which no way of excluding native HDF5 programs avoids.
  const fd = openSync(path, "r");
  const flockPair: number[] = [];
  for (let round = -1; round < rounds; round++) {
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) {
      tryFlock(fd, "shared");
      unflock(fd);
    }
    if (round >= 0) flockPair.push(((performance.now() - t0) / calls) * 1000);
  }
  closeSync(fd);
  restore();
  return {
    opens: n,
    rounds,
    onUs: median(times.on),
    offUs: median(times.off),
    pairedDiffUs: median(times.diff),
    pairedDiff95: medianInterval(times.diff),
    diffsUs: times.diff,
    isolatedUs: median(isolated),
    isolatedCalls: calls,
    flockPairUs: median(flockPair),
  };
}

// 1b. One open+close per event-loop turn, as a server answering one request per turn:
// back to back (setImmediate between; the loop's whole time per request, deferred clean-up
// included) and at least 1 ms apart (setTimeout; the open+close itself, per request).
async function openClosePerTurn(gap: "immediate" | "1ms") {
  const file = newFile(`turn-${gap}.h5`, (f) => f.create_dataset({ name: "x", data: new Float64Array(16) }));
  const n = quick ? 100 : gap === "1ms" ? 300 : 1000;
  const rounds = quick ? 3 : 7;
  const pause = () => new Promise((r) => (gap === "immediate" ? setImmediate(r) : setTimeout(r, 1)));
  const times: Record<Variant, number[]> = { bare: [], patched: [], naive: [] };
  for (let round = -1; round < rounds; round++) {
    for (const v of rotate(VARIANTS, round + 1)) {
      if (v === "patched") await patch();
      else unpatch();
      let spent = 0;
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        const t1 = performance.now();
        const unlock = v === "naive" ? naiveLock(file) : undefined;
        new h5wasm.File(file, "r").close();
        unlock?.();
        spent += performance.now() - t1;
        await pause();
      }
      const total = gap === "immediate" ? performance.now() - t0 : spent;
      if (round >= 0) times[v].push((total / n) * 1000);
      await sleep(300); // what is kept idle expires, as between bursts
    }
  }
  unpatch();
  return Object.fromEntries(VARIANTS.map((v) => [v, median(times[v])]));
}

// 1c. One thread appending datasets, opening and closing each time (no contention).
async function oneAppender(m: number) {
  const pools = Object.fromEntries(await Promise.all(VARIANTS.map(async (v) => [v, await startAll([new Participant("thread", v)])]))) as Record<Variant, Participant[]>;
  const rounds = quick ? 3 : 7;
  const ms: Record<Variant, number[]> = { bare: [], patched: [], naive: [] };
  for (let round = -1; round < rounds; round++) {
    for (const v of rotate(VARIANTS, round + 1)) {
      const file = newFile(`one-appender-${v}-${round}.h5`);
      const { ms: t } = await pools[v][0].run("append", { file, prefix: "x", count: m });
      if (round >= 0) ms[v].push(t);
    }
  }
  await Promise.all(Object.values(pools).flat().map((p) => p.kill()));
  return Object.fromEntries(VARIANTS.map((v) => [v, median(ms[v])]));
}

// 2. The seed's workload: N warm workers each read their block of a 2000x1000 array.
async function readers(n: number) {
  const rows = 2000;
  const cols = 1000;
  const file = join(dir, "big.h5");
  if (!existsSync(file)) {
    newFile("big.h5", (f) => f.create_dataset({ name: "array", data: Float64Array.from({ length: rows * cols }, (_, i) => i % 7), shape: [rows, cols] }));
  }
  const pools = Object.fromEntries(
    await Promise.all(VARIANTS.map(async (v) => [v, await startAll(Array.from({ length: n }, () => new Participant("thread", v)))])),
  ) as Record<Variant, Participant[]>;
  const per = quick ? 3 : 6;
  const rounds = quick ? 3 : 11;
  const block = rows / n;
  const job = (p: Participant, i: number) => p.run("read", { file, rounds: per, start: i * block, end: (i + 1) * block });
  for (const v of VARIANTS) await Promise.all(pools[v].map(job)); // warm-up
  const rates: Record<Variant, number[]> = { bare: [], patched: [], naive: [] };
  for (let round = 0; round < rounds; round++) {
    for (const v of rotate(VARIANTS, round)) {
      const t0 = now();
      await Promise.all(pools[v].map(job));
      rates[v].push((n * per) / ((now() - t0) / 1000));
    }
  }
  await Promise.all(Object.values(pools).flat().map((p) => p.kill()));
  return Object.fromEntries(VARIANTS.map((v) => [v, median(rates[v])]));
}

// 3. K workers appending to one file, against one bare thread doing the same appends, and
// against K bare threads taking turns under the ideal lock (ideal-lock.ts): the floor.
async function writers(k: number, m: number) {
  type Pooled = "patched" | "naive" | "ideal";
  const serial = await startAll([new Participant("thread", "bare")]);
  const lock = idealLockBuffer(); // one mutex for the whole ideal pool
  const pools = Object.fromEntries(
    await Promise.all(
      (["patched", "naive", "ideal"] as Pooled[]).map(async (v) => [v, await startAll(Array.from({ length: k }, () => new Participant("thread", v, v === "ideal" ? { lock } : {})))]),
    ),
  ) as Record<Pooled, Participant[]>;
  const rounds = quick ? 2 : 5;
  const ms: Record<string, number[]> = { serialBare: [], patched: [], naive: [], ideal: [] };
  const present: Record<string, number[]> = { patched: [], naive: [], ideal: [] };
  for (let round = 0; round < rounds; round++) {
    for (const v of rotate(["serialBare", "patched", "naive", "ideal"], round)) {
      const file = newFile(`appends-${v}-${round}.h5`);
      const t0 = now();
      if (v === "serialBare") await serial[0].run("append", { file, prefix: "s", count: k * m });
      else await Promise.all(pools[v as Pooled].map((p, i) => p.run("append", { file, prefix: `w${i}`, count: m })));
      ms[v].push(now() - t0);
      if (v !== "serialBare") {
        const f = new h5wasm.File(file, "r");
        present[v].push(f.keys().length);
        f.close();
      }
    }
  }
  await Promise.all([...serial, ...pools.patched, ...pools.naive, ...pools.ideal].map((p) => p.kill()));
  return {
    appends: k * m,
    ms: Object.fromEntries(Object.entries(ms).map(([v, xs]) => [v, median(xs)])),
    presentMin: Object.fromEntries(Object.entries(present).map(([v, xs]) => [v, Math.min(...xs)])),
  };
}

// 4. Hand-off: one holder releases, the waiter (already waiting) acquires: as soon as it
// waits (`waitedMs` 0), or once it has waited a while (its looks have backed off).
async function handoff(kind: "thread" | "process", variant: "patched" | "naive" | "ideal", waitedMs = 0) {
  const file = newFile(`handoff-${kind}-${variant}.h5`);
  const data = variant === "ideal" ? { lock: idealLockBuffer() } : {}; // one mutex for both threads
  const [a, b] = await startAll([new Participant(kind, variant, data), new Participant(kind, variant, data)]);
  const n = quick ? 15 : 60;
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    const [holder, waiter] = i % 2 ? [a, b] : [b, a];
    const holding = holder.run("hold", { file, waitMs: 20 + waitedMs, afterMs: waitedMs });
    // Start the waiter only once the holder says it holds (worker.ts hold).
    while (!existsSync(`${file}.holding`)) await sleep(0.2);
    const taking = waiter.run("take", { file });
    const [{ releasedAt }, { acquiredAt }] = await Promise.all([holding, taking]);
    rmSync(`${file}.holding`);
    lat.push(acquiredAt - releasedAt);
  }
  await Promise.all([a.kill(), b.kill()]);
  return { p50: percentile(lat, 50), p99: percentile(lat, 99), n };
}

// 5. Recovery: a holder dies (SIGKILL of its process, or terminate() of its worker).
async function recovery(how: "SIGKILL" | "terminate", variant: "patched" | "naive", reps: number) {
  const out: number[] = [];
  for (let i = 0; i < reps; i++) {
    const file = newFile(`recovery-${how}-${variant}-${i}.h5`);
    const [holder, waiter] = await startAll([new Participant(how === "SIGKILL" ? "process" : "thread", variant), new Participant("thread", variant)]);
    await holder.run("holdOpen", { file });
    const appending = waiter.run("append", { file, prefix: "after", count: 1 });
    if (variant === "patched") while (inspect(file).waiters.length === 0) await sleep(0.5);
    else await sleep(200);
    const t0 = now();
    await holder.kill();
    await appending;
    out.push(now() - t0);
    await waiter.kill();
  }
  return { median: median(out), samples: out };
}

function fmt(x: number, digits = 1) {
  return x >= 100 ? x.toFixed(0) : x.toFixed(digits);
}

async function main() {
  await h5wasm.ready;
  const machine = {
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    h5wasm: JSON.parse(readFileSync(join(ROOT, "node_modules/h5wasm/package.json"), "utf8")).version,
    host: hostname(),
    date: new Date().toISOString(),
    quick,
  };
  console.log(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}, h5wasm ${machine.h5wasm}`);
  const step = async <T>(name: string, fn: () => Promise<T>) => {
    if (only && !name.includes(only)) return undefined as T;
    process.stdout.write(`running ${name}... `);
    const t0 = performance.now();
    const r = await fn();
    console.log(`${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return r;
  };
  results.openClose = await step("open+close", openClose);
  results.nativeLayer = await step("native flock layer, on vs off", nativeLayer);
  results.perTurn = await step("open+close per turn, back to back", () => openClosePerTurn("immediate"));
  results.perTurn1ms = await step("open+close per turn, 1 ms apart", () => openClosePerTurn("1ms"));
  results.oneAppender = await step("one thread appending", () => oneAppender(quick ? 50 : 200));
  results.readers2 = await step("2 readers", () => readers(2));
  results.readers4 = await step("4 readers", () => readers(4));
  results.writers = await step("4 writers", () => writers(4, quick ? 10 : 25));
  results.handoffThreads = await step("hand-off between threads", () => handoff("thread", "patched"));
  results.handoffProcesses = await step("hand-off between processes", () => handoff("process", "patched"));
  results.handoffThreadsNaive = await step("hand-off, naive, threads", () => handoff("thread", "naive"));
  results.handoffProcessesNaive = await step("hand-off, naive, processes", () => handoff("process", "naive"));
  results.handoffThreadsIdeal = await step("hand-off, ideal lock, threads", () => handoff("thread", "ideal"));
  results.handoffProcessesIdeal = await step("hand-off, ideal lock, processes", () => handoff("process", "ideal"));
  results.handoffThreadsWaited = await step("hand-off between threads, after 20 ms", () => handoff("thread", "patched", 20));
  results.handoffProcessesWaited = await step("hand-off between processes, after 20 ms", () => handoff("process", "patched", 20));
  results.handoffThreadsWaitedNaive = await step("hand-off, naive, threads, after 20 ms", () => handoff("thread", "naive", 20));
  results.handoffProcessesWaitedNaive = await step("hand-off, naive, processes, after 20 ms", () => handoff("process", "naive", 20));
  results.recoveryKill = await step("recovery after SIGKILL", () => recovery("SIGKILL", "patched", quick ? 2 : 5));
  results.recoveryTerminate = await step("recovery after terminate()", () => recovery("terminate", "patched", quick ? 2 : 5));
  if (!quick) {
    results.recoveryKillNaive = await step("recovery after SIGKILL, naive", () => recovery("SIGKILL", "naive", 1));
    results.recoveryTerminateNaive = await step("recovery after terminate(), naive", () => recovery("terminate", "naive", 1));
  }
  rmSync(dir, { recursive: true, force: true });
  if (only) {
    console.log(JSON.stringify(results, null, 2));
    return;
  }

  const r = results;
  const oc = r.openClose;
  const nl = r.nativeLayer;
  /** A bar of the chart (chart.ts): the value the row's target is about, in one of two panels. */
  type Bar = ChartRow & { panel: "ratios" | "absolute" };
  /** A row: workload, the three figures, the ratio shown, its target with whether it is met, and its bars. */
  type Row = { name: string; bare: string; patched: string; naive: string; ratio: string; target: string; met: boolean; bars: Bar[] };
  // The chart's label of a row: its name without markdown and without the unit in brackets.
  const plain = (name: string) => name.replace(/`/g, "").replace(/\s*\([^()]*\)$/, "");
  const rowOf = (name: string, by: Record<Variant, number>, kind: "time" | "rate", max: number, digits = 1): Row => {
    const x = by.patched / by.bare;
    const met = kind === "time" ? x <= max : x >= max;
    const ratio = `${x.toFixed(2)}×${kind === "rate" ? " throughput" : ""}`;
    const target = `${kind === "time" ? "≤" : "≥"} ${max}×`;
    const bar: Bar = { panel: "ratios", label: plain(name), value: x, target: max, bound: kind === "time" ? "max" : "min", met, valueText: ratio, targetText: target };
    return { name, bare: fmt(by.bare, digits), patched: fmt(by.patched, digits), naive: fmt(by.naive, digits), ratio, target, met, bars: [bar] };
  };
  /** A bar against an absolute target in ms (hand-off, recovery). */
  const msBar = (label: string, value: number, target: number, targetText: string, digits = 1): Bar => ({
    panel: "absolute",
    label,
    value,
    target,
    bound: "max",
    met: value <= target,
    valueText: `${fmt(value, digits)} ms`,
    targetText,
  });
  type P = { p50: number; p99: number };
  const hand = (name: string, p: P, naive: P, p50: number, p99?: number, ideal?: P): Row => ({
    name,
    bare: ideal ? `ideal lock: ${fmt(ideal.p50, 3)} / ${fmt(ideal.p99, 3)}` : "–",
    patched: `${fmt(p.p50, 2)} / ${fmt(p.p99, 2)}`,
    naive: `${fmt(naive.p50, 2)} / ${fmt(naive.p99, 2)}`,
    ratio: "–",
    target: `p50 ≤ ${p50} ms${p99 ? `, p99 ≤ ${p99} ms` : ""}`,
    met: p.p50 <= p50 && (p99 === undefined || p.p99 <= p99),
    bars: [
      msBar(`${plain(name).replace(", p50 / p99", "")}, p50`, p.p50, p50, `≤ ${p50} ms`, 2),
      ...(p99 === undefined ? [] : [msBar(`${plain(name).replace(", p50 / p99", "")}, p99`, p.p99, p99, `≤ ${p99} ms`, 2)]),
    ],
  });
  const recoveryRow = (name: string, patched: { median: number }, naive?: { median: number }): Row => ({
    name,
    bare: "–",
    patched: fmt(patched.median),
    naive: naive ? fmt(naive.median) : "(--quick)",
    ratio: "–",
    target: "< 1000 ms",
    met: patched.median < 1000,
    bars: [{ ...msBar(plain(name), patched.median, 1000, "< 1000 ms"), met: patched.median < 1000 }],
  });
  const signed = (x: number) => `${x < 0 ? "−" : "+"}${Math.abs(x).toFixed(1)}`;
  const nativeRow: Row =
    nl.unavailable === undefined
      ? {
          name: "native flock layer, added to open+close `r`, tight loop (µs/op; patched, on − off, paired)",
          bare: "–",
          patched: `${fmt(nl.onUs)} on / ${fmt(nl.offUs)} off`,
          naive: "–",
          ratio: `${signed(nl.pairedDiffUs)} µs (95 %: ${signed(nl.pairedDiff95[0])} to ${signed(nl.pairedDiff95[1])})`,
          target: "≤ 5 µs added",
          met: nl.pairedDiffUs <= 5,
          bars: [
            { panel: "absolute", label: "native flock layer, added to open+close r", value: nl.pairedDiffUs, target: 5, bound: "max", met: nl.pairedDiffUs <= 5, valueText: `${signed(nl.pairedDiffUs)} µs`, targetText: "≤ 5 µs" },
          ],
        }
      : // Without koffi (or with HDF5_USE_FILE_LOCKING=FALSE) there is no layer to measure.
        { name: "native flock layer, added to open+close `r`", bare: "–", patched: `layer off: ${nl.unavailable}`, naive: "–", ratio: "–", target: "≤ 5 µs added (not measured)", met: true, bars: [] };
  const w = r.writers.ms;
  const serialRatio = w.patched / w.serialBare;
  const idealRatio = w.patched / w.ideal;
  const rows: Row[] = [
    rowOf("open+close `r`, tight loop (µs/op)", oc.r, "time", 1.2),
    rowOf("open+close `a`, tight loop (µs/op)", oc.a, "time", 1.2),
    nativeRow,
    rowOf("open+close `r`, one per turn, back to back (µs/request)", r.perTurn, "time", 1.3),
    rowOf("open+close `r`, one per turn, ≥ 1 ms apart (µs/request)", r.perTurn1ms, "time", 1.4),
    rowOf(`one thread appending, ${quick ? 50 : 200} appends (ms)`, r.oneAppender, "time", 1.15),
    rowOf("2 readers, 2000×1000 blocks (reads/s)", r.readers2, "rate", 0.98),
    rowOf("4 readers, 2000×1000 blocks (reads/s)", r.readers4, "rate", 0.98),
    {
      name: `4 writers, ${r.writers.appends} appends (ms; bare = 1 thread serial / 4 threads under an ideal lock)`,
      bare: `${fmt(w.serialBare)} / ${fmt(w.ideal)}`,
      patched: fmt(w.patched),
      naive: fmt(w.naive),
      ratio: `${idealRatio.toFixed(2)}× ideal, ${serialRatio.toFixed(2)}× serial`,
      target: "≤ 1.1× the ideal-lock floor",
      met: idealRatio <= 1.1,
      bars: [
        {
          panel: "ratios",
          label: `4 writers, ${r.writers.appends} appends, ÷ ideal lock`,
          value: idealRatio,
          target: 1.1,
          bound: "max",
          met: idealRatio <= 1.1,
          valueText: `${idealRatio.toFixed(2)}× ideal (${serialRatio.toFixed(2)}× serial)`,
          targetText: "≤ 1.1×",
        },
      ],
    },
    hand("hand-off between threads, p50 / p99 (ms)", r.handoffThreads, r.handoffThreadsNaive, 0.05, undefined, r.handoffThreadsIdeal),
    hand("hand-off between processes, p50 / p99 (ms)", r.handoffProcesses, r.handoffProcessesNaive, 0.1, 1, r.handoffProcessesIdeal),
    hand("hand-off between threads, the waiter waiting 20 ms, p50 / p99 (ms)", r.handoffThreadsWaited, r.handoffThreadsWaitedNaive, 0.05),
    hand("hand-off between processes, the waiter waiting 20 ms, p50 / p99 (ms)", r.handoffProcessesWaited, r.handoffProcessesWaitedNaive, 0.1, 1),
    recoveryRow("recovery after SIGKILL of a holder (ms)", r.recoveryKill, r.recoveryKillNaive),
    recoveryRow("recovery after terminate() of a holder (ms)", r.recoveryTerminate, r.recoveryTerminateNaive),
  ];
  const table = [
    "| workload | bare h5wasm | h5-threadsafe | naive proper-lockfile | patched vs bare | target |",
    "|---|---|---|---|---|---|",
    ...rows.map((w) => `| ${w.name} | ${w.bare} | ${w.patched} | ${w.naive} | ${w.ratio} | ${w.target}${w.met ? "" : " **missed**"} |`),
  ].join("\n");
  console.log(`\n${table}\n`);
  const missed = rows.filter((w) => !w.met).length;
  console.log(`${missed} of ${rows.length} rows miss their target.`);
  const present = r.writers.presentMin;
  console.log(`4-writer appends present (min over rounds): patched ${present.patched}, naive ${present.naive}, ideal ${present.ideal} of ${r.writers.appends}`);
  const layerNote =
    nl.unavailable === undefined
      ? `the layer's own calls per open (gate, flock, release), alone, less HDF5's own open and close: ${nl.isolatedUs.toFixed(2)} µs; a flock(2) taken and let go through koffi, alone: ${nl.flockPairUs.toFixed(2)} µs`
      : `not measured: ${nl.unavailable}`;
  console.log(`native flock layer: ${layerNote}`);
  const out = { machine, results };
  // --quick is for looking, not for the record: it writes nothing tracked.
  const outDir = quick ? mkdtempSync(join(tmpdir(), "h5ts-bench-quick-")) : ROOT;
  if (quick) console.log(`--quick: results written to ${outDir}, not to the repository`);
  const json = quick ? "results.json" : join("bench", "results.json");
  writeFileSync(join(outDir, json), JSON.stringify(out, null, 2) + "\n");
  // The chart next to results.json; BENCHMARKS.md links it relative to itself.
  const chart = quick ? "chart.svg" : "bench/chart.svg";
  const bars = rows.flatMap((row) => row.bars);
  writeFileSync(
    join(outDir, chart),
    chartSvg({
      title: `h5-threadsafe benchmarks${quick ? " (--quick: rough)" : ""}`,
      subtitle: `${machine.date.slice(0, 10)}: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, h5wasm ${machine.h5wasm}. Medians; ${missed} of ${rows.length} rows miss their target.`,
      ratios: bars.filter((b) => b.panel === "ratios"),
      absolute: bars.filter((b) => b.panel === "absolute"),
    }),
  );
  writeFileSync(
    join(outDir, "BENCHMARKS.md"),
    `# Benchmarks

Made by \`npm run bench${quick ? " -- --quick" : ""}\` on ${machine.date.slice(0, 10)}: ${machine.cpu}, ${machine.cores} cores,
${machine.memoryGiB} GiB, Node ${machine.node}, h5wasm ${machine.h5wasm}. Each row runs bare h5wasm, h5wasm with
the patch and a naive lock (one proper-lockfile exclusive lock held from open to close,
retrying every millisecond) on the same work in the same run, alternating their order
over several rounds; figures are medians. Raw numbers: \`bench/results.json\`.

${table}

![h5-threadsafe ÷ bare h5wasm per row, against each row's target](${chart})

- Bare h5wasm on the writers row is two figures: one thread doing all appends one after
  another, and the floor the target is against: 4 threads running bare h5wasm that take
  turns under an ideal lock (one Atomics mutex in shared memory, held from before the
  open to after the close: \`bench/ideal-lock.ts\`), the least any lock across threads
  can cost for 4 HDF5 heaps on these cores. Appends present after the 4-writer rounds
  (fewest over rounds): patched ${present.patched}, naive ${present.naive}, ideal lock ${present.ideal}, of ${r.writers.appends}.
- The native flock layer row is the patched open+close \`r\` with the layer on and off
  (H5TS_NATIVE_LOCK=0), ${nl.rounds ?? "–"} rounds of ${nl.opens ?? "–"}, the two run back to back in each round in
  alternating order (one file for each: a descriptor kept from a layer-on open would be
  reused with the layer off); the figure is the median of the rounds' differences, with
  a 95 % interval of that median (bootstrap).
  ${layerNote[0].toUpperCase() + layerNote.slice(1)} (median of rounds).
- Hand-off is the time from the holder's release to the waiter's return from acquire,
  the waiter already waiting: released as soon as the waiter's record shows, or 20 ms
  later (its looks have backed off; a waiter that watches the lock folder, Linux, is woken
  by the change). The naive lock cannot see waiters; its holder holds 20 ms (40 ms).
  The bare column is the floor: between threads the ideal lock of the writers row (one
  Atomics mutex), between processes a blocking \`flock\` that the kernel hands over
  (\`bench/ideal-lock.ts\`), the holder letting go once the waiter sleeps on it.
- Recovery is from the kill to the waiting writer's append done (including its own
  open, write and close). The naive lock waits for proper-lockfile's 10 s stale time.
- One per turn: a server answering one request per event-loop turn. Back to back, the
  row is the loop's whole time per request (what runs between turns included); 1 ms
  apart, the open+close itself. Targets are issue 11's; a row over its target says
  **missed**.
- The chart: bars are what each row's target is about (patched ÷ bare; for the writers,
  patched ÷ the ideal lock), the black mark the target; a missed row is red and says so.
  Rows with an absolute target (hand-off p50 and p99, recovery, the flock layer's added
  cost) are in the second panel as value ÷ target on a log scale.
- These machines are shared and noisy: compare within a row, not across runs.
`,
  );
}

await main();
