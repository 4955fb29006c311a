// The torture test's controller and command line:
//
//   npm run torture -- --seconds N --procs P --workers W --seed S [--tasks T] [--json] ...
//
// It creates the run's files (common.ts), starts P host processes (host.ts) of W actor
// threads each (actor.ts), replaces hosts it killed on their request (a SIGKILL fault),
// watches the actors' ordering logs while they run (an open that has not returned for
// --stuck-ms, or no actor logging anything for that long, is a stuck waiter: it then
// shows who holds and waits, kills everything and fails), and at the end checks the
// files and the lock folders and hands the logs to the oracle (oracle.ts). It prints a
// summary and the violations with the seed to replay, and exits 1 on any violation.
//
// A seed replays the same sequence of choices in every actor and host (modes, ways of
// opening, scenarios, pauses, fault kinds and victims, the intervals between faults); the
// timing of threads and processes differs from run to run, so a replay makes the same
// kinds of things happen, not the same interleaving.

import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import h5wasm, { type Dataset } from "h5wasm/node";
import { inspect, openFile } from "../../src/index.js";
import { IDLE_MS } from "../../src/lock/idle.js";
import {
  DEFAULT_MIX,
  FILE_KEYS,
  FILE_NAMES,
  RING,
  SCENARIOS,
  TORN,
  nowUs,
  parseLines,
  sleep,
  type FileKey,
  type HostConfig,
  type HostEvent,
  type LogEvent,
  type Scenario,
} from "./common.js";
import { oracle, percentile, type ActorLog, type FinalState, type Stats, type Violation } from "./oracle.js";

const HOST = fileURLToPath(new URL("./host.js", import.meta.url));

export interface TortureOptions {
  seconds: number;
  procs: number;
  workers: number;
  tasks: number;
  seed: number;
  faults: boolean;
  /** Mean time between faults in each host, ms. */
  faultEveryMs: number;
  /** Share of faults that SIGKILL a host process (the others terminate() one worker). */
  killShare: number;
  /** An open pending this long (or no actor logging anything this long) is stuck. */
  stuckMs: number;
  marginUs: number;
  mix: Partial<Record<Scenario, number>>;
  longHoldMs: [number, number];
  /**
   * Hosts that the lock cannot judge by /proc: every third host (from the second) in
   * another PID namespace with this host's name (unshare), every third (from the third) as
   * user nobody (setpriv), when root. Holders in another PID namespace are then judged by
   * heartbeat, with H5TS_REMOTE_STALE_MS=FOREIGN_STALE_MS for every host.
   */
  foreign: boolean;
  /** Folder for the run (kept); default a fresh temporary folder, removed after a clean run. */
  dir?: string;
  keep: boolean;
  json: boolean;
}

export const DEFAULTS: TortureOptions = {
  seconds: 20,
  procs: 2,
  workers: 2,
  tasks: 1,
  seed: 1,
  faults: true,
  faultEveryMs: 3000,
  killShare: 0.3,
  // Opens here wait without a timeout; under this load a reader may legitimately wait behind
  // writers for 15-19 s (the longest waits of 300-600 s runs), so a shorter limit flagged
  // long queues as hangs: every stuck run examined had its holder working within the last second.
  stuckMs: 60_000,
  marginUs: 0,
  mix: DEFAULT_MIX,
  longHoldMs: [300, 1500],
  foreign: false,
  keep: false,
  json: false,
};

/** The oracle's counts that the report carries as they are. */
type Counts = Pick<Stats, "opens" | "opensByVia" | "refusedExplained" | "swmrRefusedAlone" | "crashFileFailures" | "swmrStarts" | "rmwAcked" | "rmwUnacked">;

export interface Report extends Counts {
  seed: number;
  replay: string;
  options: TortureOptions;
  dir: string;
  kept: boolean;
  elapsedS: number;
  aborted: boolean;
  hosts: number;
  actors: number;
  finalCounter?: number;
  waitsMs: { n: number; p50: number; p99: number; max: number };
  faults: { terminate: number; sigkill: number; skipped: number };
  stderr: { hdf5Diagnostics: number; hdf5Messages: Record<string, number>; warnings: number; other: string[] };
  deadRecordsSwept: number;
  violationCounts: Record<string, number>;
  violations: Violation[];
}

interface HostRun {
  num: number;
  child: ChildProcess;
  killedAt?: number;
  done: boolean;
  exited: Promise<void>;
}

interface Tail {
  offset: number;
  rest: string;
}

interface LiveActor {
  pending: Map<number, { t: number; f: FileKey; m: string; via: string; sc: string }>;
  ended: boolean;
  pid?: number;
  threadId?: number;
}

export function replayCommand(o: TortureOptions): string {
  const extra: string[] = [];
  if (o.tasks !== DEFAULTS.tasks) extra.push(`--tasks ${o.tasks}`);
  if (!o.faults) extra.push("--no-faults");
  if (o.foreign) extra.push("--foreign");
  if (o.faultEveryMs !== DEFAULTS.faultEveryMs) extra.push(`--fault-every-ms ${o.faultEveryMs}`);
  if (o.killShare !== DEFAULTS.killShare) extra.push(`--kill-share ${o.killShare}`);
  if (o.stuckMs !== DEFAULTS.stuckMs) extra.push(`--stuck-ms ${o.stuckMs}`);
  if (o.marginUs !== DEFAULTS.marginUs) extra.push(`--margin-us ${o.marginUs}`);
  if (JSON.stringify(o.mix) !== JSON.stringify(DEFAULTS.mix)) extra.push(`--mix ${Object.entries(o.mix).map(([k, v]) => `${k}:${v}`).join(",")}`);
  if (JSON.stringify(o.longHoldMs) !== JSON.stringify(DEFAULTS.longHoldMs)) extra.push(`--long-hold-ms ${o.longHoldMs.join(",")}`);
  return `npm run torture -- --seconds ${o.seconds} --procs ${o.procs} --workers ${o.workers} --seed ${o.seed}${extra.length ? " " + extra.join(" ") : ""}`;
}

/**
 * Holders in another PID namespace are judged by heartbeat: stale after this long. It must
 * stay above the longest synchronous stretch of an actor (a long hold busy-waits up to
 * --long-hold-ms, 1.5 s, slower still on a loaded machine): a holder busy longer than
 * remoteStaleMs looks gone to them, as the README says of other hosts.
 */
const FOREIGN_STALE_MS = 5000;

/**
 * What a --foreign host runs under: another PID namespace (the host's name stays; its
 * child dies with it), or user nobody; none for the others, and none where not root.
 */
function foreignPrefix(num: number): string[] {
  if (process.getuid?.() !== 0) return [];
  if (num % 3 === 1) return ["unshare", "--pid", "--fork", "--kill-child=SIGKILL", "--mount-proc"];
  if (num % 3 === 2) return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
  return [];
}

/** Creates the run's files with bare h5wasm (nobody else uses them yet). */
async function makeFiles(files: Record<FileKey, string>): Promise<void> {
  await h5wasm.ready;
  const main = new h5wasm.File(files.main, "w", { libver: "v110" });
  main.create_dataset({ name: "counter", data: new Float64Array(1) });
  main.create_dataset({ name: "ring", data: new Float64Array(RING) });
  main.create_dataset({ name: "torn", data: new Float64Array(TORN) });
  main.create_dataset({ name: "swmr", data: new Float64Array(0), maxshape: [null], chunks: [256] });
  main.close();
  const w = new h5wasm.File(files.w, "w", { libver: "v110" });
  w.create_dataset({ name: "torn", data: new Float64Array(TORN) });
  w.close();
  const crash = new h5wasm.File(files.crash, "w");
  crash.create_dataset({ name: "torn", data: new Float64Array(TORN) });
  crash.close();
}

/** Counts what the hosts write on stderr: HDF5's diagnostics, warnings, anything else. */
class StderrCounter {
  hdf5 = 0;
  warnings = 0;
  other: string[] = [];
  /** Each dump's innermost message ("file is already open for write", ...), counted. */
  messages: Record<string, number> = {};
  #last: string | undefined;
  #rest = "";
  add(chunk: string): void {
    const lines = (this.#rest + chunk).split("\n");
    this.#rest = lines.pop() ?? "";
    for (const line of lines) this.#line(line);
  }
  #line(line: string): void {
    const frame = /^\s+#\d+: .*? in (\w+\(\)): (.*)$/.exec(line);
    if (frame) {
      this.#last = `${frame[1]}: ${frame[2]}`;
      return;
    }
    if (!/^\s+(major:|minor:)/.test(line)) this.#flush();
    // Dumps of several threads share fd 2 and may interleave within a line.
    if (line.includes("HDF5-DIAG")) this.hdf5++;
    else if (/^\s+(major:|minor:)/.test(line) || /^\s*(:|line \d+ in .*|)\s*$/.test(line) || /#\d{3}: |hdf5-src/.test(line)) return;
    else if (line.includes("Warning")) this.warnings++;
    else if (line.includes("--trace-warnings")) return;
    else if (this.other.length < 30) this.other.push(line.slice(0, 300));
  }
  #flush(): void {
    if (this.#last) this.messages[this.#last] = (this.messages[this.#last] ?? 0) + 1;
    this.#last = undefined;
  }
  end(): void {
    this.add("\n");
    this.#flush();
  }
}

export async function torture(options: Partial<TortureOptions> = {}): Promise<Report> {
  const o: TortureOptions = { ...DEFAULTS, ...options };
  const started = performance.now();
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), "h5ts-torture-"));
  mkdirSync(dir, { recursive: true });
  const logDir = join(dir, "logs");
  mkdirSync(logDir, { recursive: true });
  const files = Object.fromEntries(FILE_KEYS.map((k) => [k, join(dir, FILE_NAMES[k])])) as Record<FileKey, string>;
  await makeFiles(files);
  if (o.foreign) {
    // Hosts of user nobody write the files and logs; their records go to the fallback
    // folder where they cannot write beside the files.
    for (const d of [dir, logDir]) chmodSync(d, 0o777);
    for (const f of Object.values(files)) chmodSync(f, 0o666);
  }

  const violations: Violation[] = [];
  const stderr = new StderrCounter();
  const hosts = new Map<number, HostRun>();
  const sigkills: { host: number; t: number }[] = [];
  let nextHost = 0;
  let aborted = false;
  let abortedAt = 0;
  const endAtUs = nowUs() + o.seconds * 1e6;
  const lastKillUs = endAtUs - 1_500_000;

  const startHost = () => {
    const num = nextHost++;
    const config: HostConfig = {
      hostNum: num,
      seed: o.seed,
      workers: o.workers,
      tasks: o.tasks,
      files,
      endAtUs,
      logDir,
      mix: o.mix,
      faults: o.faults,
      faultEveryMs: o.faultEveryMs,
      killShare: o.killShare,
      longHoldMs: o.longHoldMs,
    };
    const prefix = o.foreign ? foreignPrefix(num) : [];
    const env = { ...process.env, H5TS_TORTURE_HOST: JSON.stringify(config), ...(o.foreign ? { H5TS_REMOTE_STALE_MS: String(FOREIGN_STALE_MS) } : {}) };
    const child = prefix.length
      ? spawn(prefix[0], [...prefix.slice(1), process.execPath, HOST], { env, stdio: ["ignore", "ignore", "pipe", "ipc"] })
      : spawn(process.execPath, [HOST], { env, stdio: ["ignore", "ignore", "pipe", "ipc"] });
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (d: string) => stderr.add(d));
    const run: HostRun = { num, child, done: false, exited: Promise.resolve() };
    run.exited = new Promise((resolve) =>
      child.on("exit", (code, signal) => {
        if (run.killedAt !== undefined) {
          if (!aborted && nowUs() < lastKillUs - 500_000) startHost();
        } else if (!aborted && (!run.done || code !== 0)) {
          violations.push({ kind: "crash", message: `host ${num} (pid ${child.pid}) ended with ${signal ?? `code ${code}`} before it was done` });
        }
        resolve();
      }),
    );
    child.on("message", (m: any) => {
      if (m?.killMe) {
        if (aborted || nowUs() > lastKillUs) child.send({ nokill: true });
        else {
          run.killedAt = nowUs();
          sigkills.push({ host: num, t: run.killedAt });
          child.kill("SIGKILL");
        }
      } else if (m?.crash) {
        violations.push({ kind: "crash", actors: [m.crash], message: `actor ${m.crash} ended with code ${m.code}${m.error ? `: ${m.error}` : ""}` });
      } else if (m?.done) run.done = true;
    });
    hosts.set(num, run);
  };
  for (let i = 0; i < o.procs; i++) startHost();

  // Watch the logs while the hosts run.
  const tails = new Map<string, Tail>();
  const live = new Map<string, LiveActor>();
  const dead = new Set<string>();
  let lastGrowth = nowUs();
  const readNew = (name: string): string => {
    const path = join(logDir, name);
    const tail = tails.get(name) ?? { offset: 0, rest: "" };
    tails.set(name, tail);
    const size = statSync(path).size;
    if (size <= tail.offset) return "";
    const buf = Buffer.alloc(size - tail.offset);
    const fd = openSync(path, "r");
    try {
      readSync(fd, buf, 0, buf.length, tail.offset);
    } finally {
      closeSync(fd);
    }
    tail.offset = size;
    const text = tail.rest + buf.toString("utf8");
    const cut = text.lastIndexOf("\n") + 1;
    tail.rest = text.slice(cut);
    lastGrowth = nowUs();
    return text.slice(0, cut);
  };
  const poll = () => {
    for (const name of readdirSync(logDir)) {
      const text = readNew(name);
      if (!text) continue;
      if (name.startsWith("host-")) {
        for (const e of parseLines<HostEvent>(text)) if (e.k === "terminate") dead.add(e.actor);
        continue;
      }
      const actor = name.slice("actor-".length, -".log".length);
      const a = live.get(actor) ?? { pending: new Map(), ended: false };
      live.set(actor, a);
      for (const e of parseLines<LogEvent>(text)) {
        if (e.k === "start") Object.assign(a, { pid: e.pid, threadId: e.threadId });
        else if (e.k === "open") a.pending.set(e.h, { t: e.t, f: e.f, m: e.m, via: e.via, sc: e.sc });
        else if (e.k === "opened" || e.k === "refused") a.pending.delete(e.h);
        else if (e.k === "end") a.ended = true;
      }
    }
    for (const s of sigkills) for (const [actor] of live) if (actor.startsWith(`h${s.host}.`)) dead.add(actor);
  };
  const whoIs = (pid: number, threadId: number) => [...live].find(([, a]) => a.pid === pid && a.threadId === threadId)?.[0] ?? `pid ${pid} thread ${threadId}`;
  const describeLock = (key: FileKey) => {
    try {
      const s = inspect(files[key]);
      const fmt = (h: { lock: string; pid: number; threadId: number; alive: boolean }) => `${h.lock} by ${whoIs(h.pid, h.threadId)}${h.alive ? "" : " (gone)"}`;
      return `${key}: holders [${s.holders.map(fmt).join("; ")}], waiters [${s.waiters.map(fmt).join("; ")}]`;
    } catch (e) {
      return `${key}: ${String(e)}`;
    }
  };

  for (;;) {
    await sleep(250);
    poll();
    const now = nowUs();
    const running = [...hosts.values()].filter((h) => h.child.exitCode === null && h.child.signalCode === null);
    if (running.length === 0) break;
    const stuck: string[] = [];
    for (const [actor, a] of live) {
      if (dead.has(actor) || a.ended) continue;
      for (const [h, p] of a.pending) {
        if (now - p.t > o.stuckMs * 1000) {
          stuck.push(`${actor}: open #${h} of ${p.f} as "${p.m}" via ${p.via} (${p.sc}) pending for ${((now - p.t) / 1e6).toFixed(1)} s`);
        }
      }
    }
    if (!stuck.length && now - lastGrowth > o.stuckMs * 1000) stuck.push(`no actor logged anything for ${((now - lastGrowth) / 1e6).toFixed(1)} s`);
    if (!stuck.length && now > endAtUs + (o.stuckMs + 20_000) * 1000) stuck.push(`the run did not end ${o.stuckMs / 1000 + 20} s after its time`);
    if (stuck.length) {
      const locks = FILE_KEYS.map(describeLock);
      const others = [...live]
        .filter(([actor, a]) => !dead.has(actor) && !a.ended)
        .flatMap(([actor, a]) => [...a.pending].map(([h, p]) => `${actor} #${h} ${p.f} "${p.m}" via ${p.via} (${p.sc}) ${((now - p.t) / 1e6).toFixed(1)} s`));
      const threads = join(dir, "threads-when-stuck.txt");
      writeFileSync(threads, threadsOf(running.map((h) => h.child.pid ?? 0)));
      const stacks = await actorStacks(running.map((h) => h.child.pid ?? 0), logDir);
      violations.push({ kind: "stuck", message: `${stuck.join("\n")}\nall pending opens: ${others.join("; ")}\nlock records now: ${locks.join("; ")}\nthe hosts' threads then (state, wait channel, system call): ${threads}\nthe actors' stacks then: ${stacks}` });
      aborted = true;
      abortedAt = nowUs();
      for (const h of running) h.child.kill("SIGKILL");
      break;
    }
  }
  await Promise.all([...hosts.values()].map((h) => h.exited));
  poll();
  stderr.end();

  // The logs, with when each killed actor was killed.
  const hostEvents = readdirSync(logDir)
    .filter((n) => n.startsWith("host-"))
    .flatMap((n) => parseLines<HostEvent>(readFileSync(join(logDir, n), "utf8")));
  const deaths = new Map<string, { t: number; how: "sigkill" | "terminate" }>();
  for (const e of hostEvents) if (e.k === "terminate") deaths.set(e.actor, { t: e.t, how: "terminate" });
  const actorsOf = (host: number) => hostEvents.filter((e): e is Extract<HostEvent, { k: "actor" }> => e.k === "actor" && e.actor.startsWith(`h${host}.`)).map((e) => e.actor);
  for (const s of sigkills) for (const a of actorsOf(s.host)) if (!deaths.has(a)) deaths.set(a, { t: s.t, how: "sigkill" });
  const logs: ActorLog[] = [];
  for (const name of readdirSync(logDir).filter((n) => n.startsWith("actor-"))) {
    const actor = name.slice("actor-".length, -".log".length);
    const events = parseLines<LogEvent>(readFileSync(join(logDir, name), "utf8"));
    let death = deaths.get(actor);
    if (!death && aborted && !events.some((e) => e.k === "end")) death = { t: abortedAt, how: "sigkill" };
    logs.push({ actor, events, death });
  }

  // The end state: records left by actors that ended normally, the files, the folders.
  let final: FinalState | undefined;
  let deadRecordsSwept = 0;
  if (!aborted) {
    const endedNormally = new Set(logs.filter((l) => !l.death).map((l) => l.actor));
    for (const key of FILE_KEYS) {
      const s = inspect(files[key]);
      for (const r of [...s.holders, ...s.waiters]) {
        const who = whoIs(r.pid, r.threadId);
        if (endedNormally.has(who)) {
          violations.push({ kind: "left-records", file: key, actors: [who], message: `${key}: a ${r.lock} record of ${who}, which ended normally, is left` });
        } else deadRecordsSwept++;
      }
    }
    // An exclusive open meets (and removes) the records of the dead; main's data is read.
    for (const key of FILE_KEYS) {
      try {
        // Hosts in another PID namespace are judged by heartbeat: with the hosts' own
        // bound, so that one killed in the last minute is not waited for 60 s.
        const f = openFile(files[key], key === "crash" ? "w" : "a", { timeoutMs: o.stuckMs, ...(o.foreign ? { remoteStaleMs: FOREIGN_STALE_MS } : {}) });
        try {
          if (key === "main") {
            final = {
              counter: ((f.get("counter") as Dataset).value as Float64Array)[0],
              ring: (f.get("ring") as Dataset).value as Float64Array,
            };
          }
        } finally {
          f.close();
        }
      } catch (e) {
        violations.push({ kind: "final-state", file: key, message: `${key}: the final exclusive open failed: ${String((e as Error)?.message ?? e).split("\n")[0]}` });
      }
    }
    await sleep(IDLE_MS + 100); // this thread's own idle records go once kept IDLE_MS
    for (const key of FILE_KEYS) {
      for (const d of inspect(files[key]).dirs) {
        const left = existsSync(d) ? readdirSync(d) : [];
        if (left.length) violations.push({ kind: "left-records", file: key, message: `${key}: ${d} still holds ${left.length} record(s) after the final open: ${left.slice(0, 5).join(" ")}` });
      }
    }
  }

  const verdict = oracle({ actors: logs, final, marginUs: o.marginUs, ringSize: RING });
  const all = [...verdict.violations, ...violations];
  const counts: Record<string, number> = {};
  for (const v of all) counts[v.kind] = (counts[v.kind] ?? 0) + 1;
  const w = verdict.stats.waitsMs;
  const report: Report = {
    seed: o.seed,
    replay: replayCommand(o),
    options: o,
    dir,
    kept: all.length > 0 || o.keep || o.dir !== undefined,
    elapsedS: Math.round((performance.now() - started) / 100) / 10,
    aborted,
    hosts: hosts.size,
    actors: logs.length,
    opens: verdict.stats.opens,
    opensByVia: verdict.stats.opensByVia,
    refusedExplained: verdict.stats.refusedExplained,
    swmrRefusedAlone: verdict.stats.swmrRefusedAlone,
    crashFileFailures: verdict.stats.crashFileFailures,
    swmrStarts: verdict.stats.swmrStarts,
    rmwAcked: verdict.stats.rmwAcked,
    rmwUnacked: verdict.stats.rmwUnacked,
    finalCounter: final?.counter,
    waitsMs: { n: w.length, p50: round(percentile(w, 50)), p99: round(percentile(w, 99)), max: round(w[w.length - 1] ?? 0) },
    faults: {
      terminate: hostEvents.filter((e) => e.k === "terminate").length,
      sigkill: sigkills.length,
      skipped: hostEvents.filter((e) => e.k === "fault-skipped").length,
    },
    stderr: { hdf5Diagnostics: stderr.hdf5, hdf5Messages: stderr.messages, warnings: stderr.warnings, other: stderr.other },
    deadRecordsSwept,
    violationCounts: counts,
    violations: all,
  };
  if (!report.kept) rmSync(dir, { recursive: true, force: true });
  return report;
}

const round = (x: number) => Math.round(x * 1000) / 1000;

export function formatReport(r: Report, maxPerKind = 8): string {
  const lines: string[] = [];
  const kv = (o: Record<string, number>) =>
    Object.entries(o)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ") || "none";
  lines.push(
    `torture: seed ${r.seed}, ${r.options.seconds} s, ${r.options.procs} process(es) x ${r.options.workers} worker(s) x ${r.options.tasks} task(s), faults ${r.options.faults ? "on" : "off"}; ran ${r.elapsedS} s${r.aborted ? " (ABORTED)" : ""}`,
    `  hosts ${r.hosts}, actors ${r.actors}`,
    `  opens by mode: ${kv(r.opens)}`,
    `  opens by way:  ${kv(r.opensByVia)}`,
    `  start_swmr_write ${r.swmrStarts}; read-modify-writes acknowledged ${r.rmwAcked}, unacknowledged ${r.rmwUnacked}; final counter ${r.finalCounter ?? "not read"}`,
    `  refusals explained by the thread's own handles ${r.refusedExplained}; crash-file failures (expected) ${r.crashFileFailures}`,
    `  start_swmr_write refused by HDF5 on a handle alone in its thread (not a lock violation; see oracle.ts): ${r.swmrRefusedAlone.length}${r.swmrRefusedAlone.length ? ` (${r.swmrRefusedAlone.slice(0, 3).join("; ")}${r.swmrRefusedAlone.length > 3 ? "; ..." : ""})` : ""}`,
    `  waits (open call to return): n ${r.waitsMs.n}, p50 ${r.waitsMs.p50} ms, p99 ${r.waitsMs.p99} ms, max ${r.waitsMs.max} ms`,
    `  faults: terminate() ${r.faults.terminate}, SIGKILL ${r.faults.sigkill}, given up ${r.faults.skipped}; records of dead actors swept at the end ${r.deadRecordsSwept}`,
    `  stderr: ${r.stderr.hdf5Diagnostics} HDF5 diagnostic dump(s), ${r.stderr.warnings} warning(s), ${r.stderr.other.length} other line(s)`,
  );
  for (const [m, n] of Object.entries(r.stderr.hdf5Messages).sort((x, y) => y[1] - x[1]).slice(0, 6)) lines.push(`    ${String(n).padStart(5)} x ${m}`);
  for (const l of r.stderr.other.slice(0, 5)) lines.push(`    | ${l}`);
  if (r.violations.length === 0) {
    lines.push("  violations: none");
  } else {
    lines.push(`  VIOLATIONS: ${r.violations.length} (${kv(r.violationCounts)})`);
    for (const kind of Object.keys(r.violationCounts)) {
      const list = r.violations.filter((v) => v.kind === kind);
      lines.push(`  ${kind} (${list.length}):`);
      for (const v of list.slice(0, maxPerKind)) lines.push(`    - ${v.message.replace(/\n/g, "\n      ")}`);
      if (list.length > maxPerKind) lines.push(`    ... and ${list.length - maxPerKind} more`);
    }
    lines.push(`  replay: ${r.replay}`);
  }
  if (r.kept) lines.push(`  run folder (logs, files): ${r.dir}`);
  return lines.join("\n");
}

const USAGE = `usage: npm run torture -- [options]
  --seconds N        how long the actors run (default ${DEFAULTS.seconds})
  --procs P          host processes (default ${DEFAULTS.procs})
  --workers W        actor threads per process (default ${DEFAULTS.workers})
  --tasks T          concurrent async tasks per actor thread, mixing sync and async opens (default ${DEFAULTS.tasks})
  --seed S           seed of every random choice (default: a random one, printed)
  --no-faults        no SIGKILL / terminate()
  --fault-every-ms M mean time between faults per process (default ${DEFAULTS.faultEveryMs})
  --kill-share X     share of faults that SIGKILL a process (default ${DEFAULTS.killShare})
  --stuck-ms M       an open pending this long is a stuck waiter (default ${DEFAULTS.stuckMs})
  --margin-us U      only intersections longer than U µs count as overlaps (default 0)
  --mix a:1,b:2      scenario weights among ${SCENARIOS.join(", ")} (default ${Object.entries(DEFAULT_MIX).map(([k, v]) => `${k}:${v}`).join(",")})
  --long-hold-ms A,B hold time range of long holders (default ${DEFAULTS.longHoldMs.join(",")})
  --dir D            run in D and keep it (default: a temporary folder, kept only on violations)
  --foreign          (root) every third host in another PID namespace, every third as
                     user nobody: judged by heartbeat (stale after ${FOREIGN_STALE_MS} ms)
  --keep             keep the temporary folder
  --json             print the report as JSON
exits 1 on any violation, 2 on bad usage`;

export function parseArgs(argv: string[]): TortureOptions {
  const o: TortureOptions = { ...DEFAULTS, seed: (Math.random() * 2 ** 31) >>> 0 };
  const num = (name: string, v: string | undefined, min = 0): number => {
    const x = Number(v);
    if (v === undefined || !Number.isFinite(x) || x < min) throw new Error(`${name} needs a number >= ${min}`);
    return x;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i];
    switch (a) {
      case "--seconds":
        o.seconds = num(a, next(), 1);
        break;
      case "--procs":
        o.procs = Math.floor(num(a, next(), 1));
        break;
      case "--workers":
        o.workers = Math.floor(num(a, next(), 1));
        break;
      case "--tasks":
        o.tasks = Math.floor(num(a, next(), 1));
        break;
      case "--seed":
        o.seed = Math.floor(num(a, next())) >>> 0;
        break;
      case "--no-faults":
        o.faults = false;
        break;
      case "--faults":
        o.faults = true;
        break;
      case "--fault-every-ms":
        o.faultEveryMs = num(a, next(), 10);
        break;
      case "--kill-share":
        o.killShare = Math.min(1, num(a, next()));
        break;
      case "--stuck-ms":
        o.stuckMs = num(a, next(), 100);
        break;
      case "--margin-us":
        o.marginUs = num(a, next());
        break;
      case "--mix": {
        const mix: Partial<Record<Scenario, number>> = {};
        for (const part of (next() ?? "").split(",")) {
          const [k, v] = part.split(":");
          if (!SCENARIOS.includes(k as Scenario)) throw new Error(`--mix: unknown scenario ${k} (known: ${SCENARIOS.join(", ")})`);
          mix[k as Scenario] = v === undefined ? 1 : num(`--mix ${k}`, v);
        }
        if (!Object.values(mix).some((v) => v! > 0)) throw new Error("--mix needs a scenario with weight > 0");
        o.mix = mix;
        break;
      }
      case "--long-hold-ms": {
        const [x, y] = (next() ?? "").split(",").map((v) => num("--long-hold-ms", v));
        o.longHoldMs = [x, y ?? x];
        break;
      }
      case "--dir":
        o.dir = next();
        if (!o.dir) throw new Error("--dir needs a folder");
        break;
      case "--keep":
        o.keep = true;
        break;
      case "--foreign":
        o.foreign = true;
        break;
      case "--json":
        o.json = true;
        break;
      case "-h":
      case "--help":
        throw new Error("help");
      default:
        throw new Error(`unknown option ${a}`);
    }
  }
  return o;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  let o: TortureOptions;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    const m = (e as Error).message;
    process.stderr.write((m === "help" ? "" : `${m}\n`) + USAGE + "\n");
    process.exit(m === "help" ? 0 : 2);
  }
  if (!o.json) process.stdout.write(`torture: seed ${o.seed} (replay: ${replayCommand(o)})\n`);
  const report = await torture(o);
  process.stdout.write((o.json ? JSON.stringify(report, null, 1) : formatReport(report)) + "\n");
  process.exitCode = report.violations.length ? 1 : 0;
}

/** The node processes under `roots` (a host may run under setpriv/unshare). */
function nodesUnder(roots: number[]): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // gone
    }
  }
  const under = (pid: number): boolean => roots.includes(pid) || (parent.has(pid) && pid > 1 && under(parent.get(pid)!));
  return [...parent.keys()].filter((pid) => {
    try {
      return under(pid) && readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "node";
    } catch {
      return false;
    }
  });
}

/** Asks every host under `roots` for its actors' stacks (host.ts, SIGUSR2); waits up to 5 s. */
async function actorStacks(roots: number[], logDir: string): Promise<string> {
  for (const pid of nodesUnder(roots)) {
    try {
      process.kill(pid, "SIGUSR2");
    } catch {
      // gone
    }
  }
  await sleep(5000);
  const files = readdirSync(logDir).filter((n) => n.startsWith("stacks-host-"));
  return files.length ? files.map((n) => join(logDir, n)).join(", ") : "none written";
}

/**
 * Every thread of the processes under `roots` (a host may run under setpriv/unshare): pid,
 * tid, name, state, wait channel and system call (/proc/<tid>/syscall: its number and
 * arguments, "running" when none), so that a stuck run shows what each thread was doing:
 * futex (202, Atomics.wait), ppoll (271), epoll_wait (232, an idle event loop), or running.
 */
function threadsOf(roots: number[]): string {
  const read = (p: string) => {
    try {
      return readFileSync(p, "utf8").trim();
    } catch (e) {
      return `? (${(e as NodeJS.ErrnoException).code})`;
    }
  };
  const parent = new Map<number, number>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const stat = read(`/proc/${name}/stat`);
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    parent.set(Number(name), ppid);
  }
  const under = (pid: number): boolean => roots.includes(pid) || (parent.has(pid) && pid > 1 && under(parent.get(pid)!));
  const lines: string[] = [];
  for (const pid of [...parent.keys()].filter(under)) {
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      const stat = read(`/proc/${pid}/task/${tid}/stat`);
      const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
      lines.push([pid, tid, read(`/proc/${pid}/task/${tid}/comm`), state, read(`/proc/${pid}/task/${tid}/wchan`), read(`/proc/${pid}/task/${tid}/syscall`)].join("\t"));
    }
  }
  return lines.join("\n") + "\n";
}
