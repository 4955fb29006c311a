// Shared by the torture test's controller (run.ts), hosts (host.ts), actors (actor.ts)
// and oracle (oracle.ts): the clock, the seeded PRNG, the files' layout, the log format.

/**
 * The one clock of the test, in microseconds: process.hrtime reads CLOCK_MONOTONIC, which
 * on Linux is a single clock for the whole machine (not per process or thread), so stamps
 * taken by different threads and processes of one host compare directly. The test runs
 * every actor on one host and relies on that; it never uses Date.now() (ms, and can step).
 * Values are below 2^53 µs for centuries of uptime, so a Number holds them exactly.
 */
export function nowUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** mulberry32: small, fast, and good enough to drive random choices reproducibly. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seed derived from the run's seed and a path of integers (who, which incarnation...). */
export function seedFor(seed: number, ...parts: number[]): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (const p of [...parts, parts.length]) {
    h = Math.imul(h ^ (p >>> 0), 0x85ebca6b) >>> 0;
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
  }
  return h;
}

/** One of `weights`' keys, chosen with probability proportional to its weight. */
export function pick<K extends string>(rnd: () => number, weights: Partial<Record<K, number>>): K {
  const entries = Object.entries(weights).filter(([, w]) => (w as number) > 0) as [K, number][];
  const total = entries.reduce((s, [, w]) => s + w, 0);
  let x = rnd() * total;
  for (const [k, w] of entries) {
    x -= w;
    if (x < 0) return k;
  }
  return entries[entries.length - 1][0];
}

export type H5Mode = "r" | "a" | "w" | "x" | "Sr" | "Sa";
export type Via = "patch" | "named" | "explicit" | "async";

/**
 * The three files of a run, each with its own purpose:
 * - main: a v110 (SWMR-capable) file used in every mode but "w": read-modify-write
 *   counter, torn-read array, SWMR append dataset. HDF5 itself refuses an open of it that
 *   meets a writer in another instance (its superblock says "open for write"), which is
 *   the "refused by HDF5 while the lock admitted it" evidence. A writer killed while it
 *   has it open would leave that mark for good, so faults never hit a thread that has it
 *   open for writing (see host.ts).
 * - w: recreated by "w" sessions (v110 too), rewritten by "a", read by "r"; the same
 *   fault rule. Torn reads and refused opens are checked.
 * - crash: an old-format file (no status flags) where faults land at any moment, also in
 *   the middle of a write; HDF5 failures on it are expected after such a kill and are
 *   not violations. Only the ordering log is checked there.
 */
export type FileKey = "main" | "w" | "crash";
export const FILE_KEYS: readonly FileKey[] = ["main", "w", "crash"];
export const FILE_NAMES: Record<FileKey, string> = { main: "main.h5", w: "w.h5", crash: "crash.h5" };

/** Elements of /torn (written in TORN_SLICES slices, each flushed) and of /ring. */
export const TORN = 4096;
export const TORN_SLICES = 4;
export const RING = 65536;

export type Scenario = "single" | "nested" | "swmr" | "asyncsync" | "long";
export const SCENARIOS: readonly Scenario[] = ["single", "nested", "swmr", "asyncsync", "long"];
export const DEFAULT_MIX: Record<Scenario, number> = { single: 45, nested: 20, swmr: 12, asyncsync: 15, long: 2 };

/** What an actor (one worker thread) is told. */
export interface ActorConfig {
  id: string;
  /** Unique number of this actor in the run (for session ids). */
  num: number;
  seed: number;
  logPath: string;
  files: Record<FileKey, string>;
  endAtUs: number;
  tasks: number;
  mix: Partial<Record<Scenario, number>>;
  /** Fault coordination with the host (see host.ts): Int32 cells. */
  ctl: SharedArrayBuffer;
  slot: number;
  longHoldMs: [number, number];
}

/** What a host (one child process) is told, as JSON in its environment. */
export interface HostConfig {
  hostNum: number;
  seed: number;
  workers: number;
  tasks: number;
  files: Record<FileKey, string>;
  endAtUs: number;
  logDir: string;
  mix: Partial<Record<Scenario, number>>;
  faults: boolean;
  /** Mean time between faults in this host, ms. */
  faultEveryMs: number;
  /** Share of faults that SIGKILL the whole process (the rest terminate() one worker). */
  killShare: number;
  longHoldMs: [number, number];
}

/** Cells of a host's fault-control array: [0] freezes the whole host; then per slot. */
export const CTL_HOST_FREEZE = 0;
export const ctlFreeze = (slot: number) => 1 + 2 * slot;
export const ctlTaint = (slot: number) => 2 + 2 * slot;
export const ctlSize = (workers: number) => 1 + 2 * workers;

/**
 * One line of an actor's ordering log (JSON). `t` is nowUs() when the event happened:
 * for "open" just before the open call, for "opened"/"refused" just after it returned,
 * for "close" just before the close call, for "swmr" just before start_swmr_write.
 * "hdf5" is HDF5's own open returning (a wrapper around h5wasm's Module.open, outside the
 * patch's): the moment the handle joined or made the thread's HDF5 file object. An async
 * open reports "opened" later (its promise resolves a microtask or more after), when
 * other tasks of the thread may have closed handles meanwhile; "opened" carries the
 * handle's file id, so that the oracle can put the open where HDF5 did it.
 */
export type LogEvent =
  | { t: number; k: "start"; actor: string; pid: number; threadId: number; tid?: number; seed: number }
  | { t: number; k: "open"; h: number; task: number; f: FileKey; m: H5Mode; via: Via; sc: Scenario; asked?: Via }
  | { t: number; k: "hdf5"; id: string }
  | { t: number; k: "opened"; h: number; id?: string }
  | { t: number; k: "refused"; h: number; code: string; msg?: string }
  | { t: number; k: "swmr"; h: number; ok: boolean }
  | { t: number; k: "close"; h: number }
  | { t: number; k: "closed"; h: number; err?: string }
  | { t: number; k: "rmw"; h: number; c: number; sid: number }
  | { t: number; k: "torn"; h: number; what: string }
  | { t: number; k: "ioerr"; h: number; op: string; msg: string }
  | { t: number; k: "tolerated"; h: number; op: string; msg: string }
  | { t: number; k: "error"; task: number; msg: string }
  | { t: number; k: "long"; h: number; ms: number }
  | { t: number; k: "end" };

/** A host's log: its actors, and the worker terminations it did. */
export type HostEvent =
  | { t: number; k: "actor"; actor: string; num: number; slot: number; log: string }
  | { t: number; k: "terminate"; actor: string }
  | { t: number; k: "actor-exit"; actor: string; code: number; error?: string }
  | { t: number; k: "fault-skipped"; kind: string; why: string };

export const isWriterMode = (m: string) => m === "a" || m === "w" || m === "x" || m === "Sa";

/** Parses a JSON-lines log; a line cut short by a kill is ignored. */
export function parseLines<T>(text: string): T[] {
  const out: T[] = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      // the last line of a killed writer
    }
  }
  return out;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
