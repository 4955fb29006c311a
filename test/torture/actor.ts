// One actor of the torture test: a worker thread of a host process (host.ts) that loads
// the patch (h5-threadsafe/patch) and then, in `tasks` concurrent async loops, opens the
// run's files in a seeded random mix of modes and ways (new File() under the patch, the
// named File import, openFile, openFileAsync), nested reopens, SWMR, long holds, and
// logs every open, close and what it saw in the files to its ordering log (common.ts).
//
// Data checks done here, logged for the oracle:
// - writers of main do read-modify-write on /counter and write their session id into
//   /ring at the counter's old value; readers check that /torn holds one value only and
//   that /swmr is a prefix of 1, 2, 3 ... (0 allowed: not yet written by a SWMR writer);
// - /torn is rewritten in TORN_SLICES flushed slices, only by writers whose thread has
//   the file open without SWMR (an Sr reader may legitimately stand beside a SWMR writer);
// - within the thread, the data steps of its tasks on one file take turns (an async
//   mutex): the lock works per thread, so two tasks of one thread share their writes.
//
// Faults: before opening main or w for writing, the actor marks itself "tainted" in the
// host's control array, unless the host asked it to freeze (then it waits); the taint
// lasts until the thread's last handle on that file is closed and no open of it is on its
// way (one may have joined the writer's file object in HDF5). The host only kills
// actors that are not tainted (see host.ts), so a kill never leaves main or w marked
// "open for write" by a dead writer. The crash file has no such protection.

import { workerData } from "node:worker_threads";
import { closeSync, openSync, readlinkSync, writeSync } from "node:fs";
import type { Dataset, File as H5File } from "h5wasm/node";
import {
  CTL_HOST_FREEZE,
  RING,
  TORN,
  TORN_SLICES,
  ctlFreeze,
  ctlTaint,
  isWriterMode,
  nowUs,
  pick,
  prng,
  seedFor,
  sleep,
  type ActorConfig,
  type FileKey,
  type H5Mode,
  type Scenario,
  type Via,
} from "./common.js";

const cfg = workerData as ActorConfig;
await import("../../src/register.js"); // h5-threadsafe/patch
const h5 = await import("h5wasm/node");
const h5wasm = h5.default;
await h5wasm.ready;
const api = await import("../../src/index.js");
const { threadId } = await import("node:worker_threads");

const fd = openSync(cfg.logPath, "a");
/** This thread's OS thread id (for the thread dump of a stuck run, run.ts). */
function osThread(): number | undefined {
  try {
    return Number(readlinkSync("/proc/thread-self").split("/").pop());
  } catch {
    return undefined;
  }
}

function log(e: Record<string, unknown>, t = nowUs()): void {
  writeSync(fd, JSON.stringify({ t, ...e }) + "\n");
}
log({ k: "start", actor: cfg.id, pid: process.pid, threadId, tid: osThread(), seed: cfg.seed });

// HDF5's open, as it happens: wrapped outside the patch's wrapper (which takes the lock
// around the original), so the line is written right after HDF5 opened, before any other
// task of this thread can run. Every way of opening goes through Module.open.
{
  const M = h5.Module as unknown as { open: (...args: unknown[]) => bigint };
  const open = M.open;
  M.open = function (this: unknown, ...args: unknown[]) {
    const id = open.apply(this, args);
    if (id >= 0n) log({ k: "hdf5", id: String(id) });
    return id;
  };
}

const ctl = new Int32Array(cfg.ctl);
const FREEZE = ctlFreeze(cfg.slot);
const TAINT = ctlTaint(cfg.slot);

function tryTaint(): boolean {
  Atomics.add(ctl, TAINT, 1);
  if (Atomics.load(ctl, CTL_HOST_FREEZE) === 0 && Atomics.load(ctl, FREEZE) === 0) return true;
  Atomics.sub(ctl, TAINT, 1);
  return false;
}

interface Handle {
  h: number;
  key: FileKey;
  mode: H5Mode;
  f: H5File;
}

interface PerFile {
  handles: Set<Handle>;
  /** Opens under way (any mode). */
  opening: number;
  writerOpens: number;
  /** Taint units held for this file (released when no handle is left). */
  taint: number;
  /** This thread's instance of the file is SWMR-writing (an Sa handle, or start_swmr_write). */
  swmr: boolean;
  mutex: Promise<void>;
}

const perFile: Record<FileKey, PerFile> = {
  main: { handles: new Set(), opening: 0, writerOpens: 0, taint: 0, swmr: false, mutex: Promise.resolve() },
  w: { handles: new Set(), opening: 0, writerOpens: 0, taint: 0, swmr: false, mutex: Promise.resolve() },
  crash: { handles: new Set(), opening: 0, writerOpens: 0, taint: 0, swmr: false, mutex: Promise.resolve() },
};

let handleSeq = 0;
let sessionSeq = 0;
const newSid = () => cfg.num * 2 ** 20 + ++sessionSeq;

function settle(key: FileKey): void {
  const s = perFile[key];
  // An open still on its way (an async one, say) may join the writer's file object in
  // HDF5 before the writer's handle closes, and keep it open for writing: while one is, a
  // kill is no safer than while a writer's handle is open.
  if (s.handles.size === 0 && s.opening === 0) {
    s.swmr = false;
    if (s.writerOpens === 0 && s.taint > 0) {
      Atomics.sub(ctl, TAINT, s.taint);
      s.taint = 0;
    }
  }
}

const firstLine = (e: unknown) => String((e as Error)?.message ?? e).split("\n")[0].slice(0, 300);

/**
 * Opens `key` in `mode` by `via`. For every way but "async" the open happens synchronously
 * inside this call (before its promise is returned), unless the host froze this actor.
 */
async function open(task: number, sc: Scenario, key: FileKey, mode: H5Mode, asked: Via, libver?: "v110"): Promise<Handle | undefined> {
  const s = perFile[key];
  // A synchronous wait stops the whole thread: one that holds another file meanwhile (in
  // another task) would deadlock with a thread that holds this file and waits for that
  // one, as any program would. The lock cannot help it; the test does not do it.
  const holdsOther = (Object.keys(perFile) as FileKey[]).some((k) => k !== key && (perFile[k].handles.size > 0 || perFile[k].opening > 0));
  const via: Via = asked !== "async" && holdsOther ? "async" : asked;
  const risky = isWriterMode(mode) && key !== "crash";
  if (risky) {
    // Already tainted for this file: no fault waits for us to drop it (waiting for the
    // freeze to end would only make the fault wait for us in turn).
    if (s.taint > 0) Atomics.add(ctl, TAINT, 1);
    else while (!tryTaint()) await sleep(2);
    s.taint++;
    s.writerOpens++;
  }
  const path = cfg.files[key];
  const options = libver ? { libver } : undefined;
  const h = ++handleSeq;
  log({ k: "open", h, task, f: key, m: mode, via, sc, ...(via !== asked ? { asked } : {}) });
  s.opening++;
  let f: H5File | undefined;
  let error: unknown;
  try {
    switch (via) {
      case "patch":
        f = new h5wasm.File(path, mode, options);
        break;
      case "named":
        f = new h5.File(path, mode, options);
        break;
      case "explicit":
        f = api.openFile(path, mode, options);
        break;
      case "async":
        f = await api.openFileAsync(path, mode, options);
        break;
    }
  } catch (e) {
    error = e;
  }
  const t = nowUs();
  s.opening--;
  if (risky) s.writerOpens--;
  if (f && f.file_id >= 0n) {
    const hd: Handle = { h, key, mode, f };
    s.handles.add(hd);
    if (mode === "Sa") s.swmr = true;
    log({ k: "opened", h, id: String(f.file_id) }, t);
    return hd;
  }
  const code = error ? String((error as { code?: string }).code ?? (error as Error).name ?? "throw") : "file_id -1";
  log({ k: "refused", h, code, msg: error ? firstLine(error) : undefined }, t);
  settle(key);
  return undefined;
}

function close(hd: Handle): void {
  const s = perFile[hd.key];
  if (!s.handles.has(hd)) return;
  log({ k: "close", h: hd.h });
  let err: string | undefined;
  try {
    hd.f.close();
  } catch (e) {
    err = firstLine(e);
    log({ k: hd.key === "crash" ? "tolerated" : "ioerr", h: hd.h, op: "close", msg: err });
  }
  s.handles.delete(hd);
  log({ k: "closed", h: hd.h, ...(err ? { err } : {}) });
  settle(hd.key);
}

/** Runs `fn` when no other task of this thread does data steps on the file. */
async function exclusively<T>(key: FileKey, fn: () => Promise<T> | T): Promise<T> {
  const s = perFile[key];
  const before = s.mutex;
  let done!: () => void;
  s.mutex = new Promise<void>((r) => (done = r));
  await before;
  try {
    return await fn();
  } finally {
    done();
  }
}

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

/** A short, random pause: none, a busy wait, a microtask, or turns of the event loop. */
async function pause(rnd: () => number, scale = 1): Promise<void> {
  const x = rnd();
  if (x < 0.35) return;
  if (x < 0.55) return busy(rnd() * scale);
  if (x < 0.75) return void (await null);
  await sleep(rnd() * 4 * scale);
}

const ds = (hd: Handle, name: string) => {
  const d = hd.f.get(name) as Dataset | undefined;
  if (!d) throw new Error(`no dataset /${name}`);
  return d;
};
const values = (d: Dataset) => d.value as Float64Array;

async function rmw(hd: Handle, rnd: () => number, sid: number): Promise<void> {
  const counter = ds(hd, "counter");
  const c = values(counter)[0];
  await pause(rnd);
  counter.write_slice([[0, 1]], Float64Array.of(c + 1));
  ds(hd, "ring").write_slice([[c % RING, (c % RING) + 1]], Float64Array.of(sid));
  hd.f.flush();
  log({ k: "rmw", h: hd.h, c, sid });
}

async function rewriteTorn(hd: Handle, rnd: () => number, v: number): Promise<void> {
  const torn = ds(hd, "torn");
  const q = TORN / TORN_SLICES;
  for (let i = 0; i < TORN_SLICES; i++) {
    torn.write_slice([[i * q, (i + 1) * q]], new Float64Array(q).fill(v));
    hd.f.flush();
    if (i < TORN_SLICES - 1) await pause(rnd);
  }
}

function checkTorn(hd: Handle): void {
  const v = values(ds(hd, "torn"));
  if (v.length !== TORN) return log({ k: "torn", h: hd.h, what: `/torn of length ${v.length}` });
  const seen = new Set<number>();
  for (let i = 0; i < v.length && seen.size < 4; i += TORN / TORN_SLICES / 2) seen.add(v[i]);
  for (const x of v) if (x !== v[0]) seen.add(x);
  if (seen.size > 1) log({ k: "torn", h: hd.h, what: `/torn mixing ${[...seen].slice(0, 4).join(", ")}` });
}

// No Dataset.refresh(): in h5wasm 0.10.3 it leaves a dataset id open (refresh_dataset
// never calls H5Dclose), so HDF5 keeps the file open in the thread after File.close(),
// with the lock given back. Each session opens the file afresh and sees its state anyway.
function checkSwmr(hd: Handle): void {
  const v = values(ds(hd, "swmr"));
  for (let i = 0; i < v.length; i++) {
    if (v[i] !== i + 1 && v[i] !== 0) return log({ k: "torn", h: hd.h, what: `/swmr[${i}] = ${v[i]} (length ${v.length})` });
  }
}

function append(hd: Handle, rnd: () => number): void {
  const d = ds(hd, "swmr");
  const n = d.shape![0];
  const k = 1 + Math.floor(rnd() * 4);
  d.resize([n + k]);
  d.write_slice([[n, n + k]], Float64Array.from({ length: k }, (_, j) => n + j + 1));
  hd.f.flush();
}

/** What a session does with its handle, by file and mode; failures are logged. */
async function work(hd: Handle, rnd: () => number, sid: number): Promise<void> {
  await exclusively(hd.key, async () => {
    try {
      if (hd.key === "main") {
        if (isWriterMode(hd.mode)) {
          await rmw(hd, rnd, sid);
          if (!perFile.main.swmr && rnd() < 0.6) await rewriteTorn(hd, rnd, sid);
          if (rnd() < 0.5) append(hd, rnd);
        } else {
          checkTorn(hd);
          checkSwmr(hd);
          values(ds(hd, "counter"));
        }
      } else if (hd.key === "w") {
        if (hd.mode === "w") {
          hd.f.create_dataset({ name: "torn", data: new Float64Array(TORN).fill(sid) });
          hd.f.flush();
          if (rnd() < 0.5) await rewriteTorn(hd, rnd, sid + 0.5);
        } else if (isWriterMode(hd.mode)) await rewriteTorn(hd, rnd, sid);
        else checkTorn(hd);
      } else {
        // The crash file may be left damaged by a kill: read and write, expect anything.
        if (hd.mode === "w") hd.f.create_dataset({ name: "torn", data: new Float64Array(TORN).fill(sid) });
        else if (isWriterMode(hd.mode)) await rewriteTorn(hd, rnd, sid);
        else values(ds(hd, "torn"));
      }
    } catch (e) {
      log({ k: hd.key === "crash" ? "tolerated" : "ioerr", h: hd.h, op: "work", msg: firstLine(e) });
    }
  });
}

const MODES: Record<FileKey, Partial<Record<H5Mode, number>>> = {
  main: { r: 30, Sr: 20, a: 30, Sa: 20 },
  w: { r: 40, a: 30, w: 30 },
  crash: { r: 40, a: 35, w: 25 },
};
const VIAS: Record<Via, number> = { patch: 35, named: 10, explicit: 25, async: 30 };
const SYNC_VIAS: Partial<Record<Via, number>> = { patch: 50, named: 15, explicit: 35 };
const FILES: Record<FileKey, number> = { main: 60, w: 20, crash: 20 };

const pickLibver = (key: FileKey, mode: H5Mode, rnd: () => number): "v110" | undefined =>
  (key === "main" && mode === "a" && rnd() < 0.5) || (key === "w" && mode === "w") ? "v110" : undefined;

async function session(task: number, sc: Scenario, rnd: () => number, holdMs?: number): Promise<void> {
  const key = pick(rnd, FILES);
  const mode = pick(rnd, MODES[key]);
  const hd = await open(task, sc, key, mode, pick(rnd, VIAS), pickLibver(key, mode, rnd));
  if (!hd) return;
  try {
    await pause(rnd);
    await work(hd, rnd, newSid());
    if (holdMs !== undefined) {
      log({ k: "long", h: hd.h, ms: holdMs });
      if (rnd() < 0.3) busy(holdMs);
      else await sleep(holdMs);
    }
    await pause(rnd);
  } finally {
    close(hd);
  }
}

/** Reopens in one thread: joinable or not, closed in a random order, with holds between. */
async function nested(task: number, rnd: () => number): Promise<void> {
  const key: FileKey = rnd() < 0.8 ? "main" : "w";
  const opened: Handle[] = [];
  try {
    const n = 2 + (rnd() < 0.3 ? 1 : 0);
    for (let i = 0; i < n; i++) {
      const mode = pick(rnd, MODES[key]);
      const hd = await open(task, "nested", key, mode, pick(rnd, VIAS), pickLibver(key, mode, rnd));
      if (hd) {
        opened.push(hd);
        await work(hd, rnd, newSid());
      } else if (i === 0) return;
      await pause(rnd);
    }
    // Often the first (outer) handle first: what remains then holds the file on its own.
    const order = rnd() < 0.5 ? opened.slice() : opened.slice().sort(() => rnd() - 0.5);
    for (const hd of order) {
      close(hd);
      await pause(rnd, 3);
      for (const other of opened) if (perFile[key].handles.has(other) && rnd() < 0.3) await work(other, rnd, newSid());
    }
  } finally {
    for (const hd of opened) close(hd);
  }
}

/** An "a" handle (libver v110) that turns to SWMR writing, sometimes with an Sr reopen. */
async function swmr(task: number, rnd: () => number): Promise<void> {
  const w = await open(task, "swmr", "main", "a", pick(rnd, VIAS), "v110");
  if (!w) return;
  let r: Handle | undefined;
  try {
    await work(w, rnd, newSid());
    const ok = await exclusively("main", () => {
      const t = nowUs();
      const ok = w.f.start_swmr_write() >= 0;
      log({ k: "swmr", h: w.h, ok }, t);
      if (ok) perFile.main.swmr = true;
      return ok;
    });
    await pause(rnd);
    if (ok) await work(w, rnd, newSid());
    if (rnd() < 0.5) {
      r = await open(task, "swmr", "main", "Sr", pick(rnd, VIAS));
      if (r) await work(r, rnd, newSid());
    }
    await pause(rnd);
    if (r && rnd() < 0.5) {
      close(w);
      await pause(rnd, 3);
      await work(r, rnd, newSid());
    }
  } finally {
    close(w);
    if (r) close(r);
  }
}

/**
 * openFileAsync, then, after some microtasks or turns of the event loop, a synchronous
 * open of the same file in the same thread, while the first may still be pending.
 */
async function asyncsync(task: number, rnd: () => number): Promise<void> {
  const key: FileKey = rnd() < 0.8 ? "main" : "w";
  const m1 = pick(rnd, MODES[key]);
  const m2 = pick(rnd, MODES[key]);
  const first = open(task, "asyncsync", key, m1, "async", pickLibver(key, m1, rnd));
  const x = rnd();
  if (x < 0.5) for (let i = Math.floor(rnd() * 6); i > 0; i--) await null;
  else if (x < 0.8) await new Promise((r) => setImmediate(r));
  else await sleep(rnd() * 3);
  const second = await open(task, "asyncsync", key, m2, pick(rnd, SYNC_VIAS), pickLibver(key, m2, rnd));
  const hd = await first;
  const both = [hd, second].filter((h): h is Handle => h !== undefined);
  try {
    // A "w" handle truncated the file: its session recreates /torn before the other one
    // (of the same thread, so of the same HDF5 instance) looks for it.
    for (const h of both.slice().sort((x, y) => Number(y.mode === "w") - Number(x.mode === "w"))) await work(h, rnd, newSid());
    await pause(rnd);
    for (const h of rnd() < 0.5 ? both : both.reverse()) {
      close(h);
      await pause(rnd, 2);
    }
  } finally {
    for (const h of both) close(h);
  }
}

const runners: Record<Scenario, (task: number, rnd: () => number) => Promise<void>> = {
  single: (task, rnd) => session(task, "single", rnd),
  long: (task, rnd) => session(task, "long", rnd, cfg.longHoldMs[0] + rnd() * (cfg.longHoldMs[1] - cfg.longHoldMs[0])),
  nested,
  swmr,
  asyncsync,
};

async function loop(task: number): Promise<void> {
  // One PRNG per task: its sequence of choices does not depend on how tasks interleave.
  const rnd = prng(seedFor(cfg.seed, task));
  while (nowUs() < cfg.endAtUs) {
    const sc = pick(rnd, cfg.mix);
    try {
      await runners[sc](task, rnd);
    } catch (e) {
      log({ k: "error", task, msg: String((e as Error)?.stack ?? e).slice(0, 800) });
    }
    if (rnd() < 0.2) await sleep(rnd() * 2);
  }
}

await Promise.all(Array.from({ length: cfg.tasks }, (_, i) => loop(i)));
log({ k: "end" });
closeSync(fd);
// Ends by itself when nothing is left to do; if something keeps the loop alive, exit.
setTimeout(() => process.exit(0), 500).unref();
