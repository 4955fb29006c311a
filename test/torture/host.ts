// A host of the torture test: one child process of the controller (run.ts). Its main
// thread loads the patch (as `node --import h5-threadsafe/patch` would) and supervises
// `workers` actor threads (actor.ts); it opens no file itself. HDF5's diagnostics of all
// its threads go to its stderr (h5wasm writes to fd 2 directly), which the controller
// counts.
//
// Faults, at seeded random times (exponential, mean faultEveryMs):
// - terminate(): one worker, chosen at random, is ended with worker.terminate() and
//   replaced by a new actor;
// - SIGKILL: the host asks the controller to kill the whole process (the controller
//   starts another host in its place).
// A fault first freezes its victims (a cell of the control array that they read before
// opening main or w for writing) and waits until none of them is tainted (has main or w
// open for writing, or is opening it so); it is given up after FREEZE_LIMIT_MS. So a
// victim dies at any moment of its life but those: while reading, waiting for any lock,
// opening or closing, idle, or doing anything at all with the crash file.

import { Worker } from "node:worker_threads";
import { Session } from "node:inspector";
import { closeSync, openSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CTL_HOST_FREEZE, ctlFreeze, ctlSize, ctlTaint, nowUs, prng, seedFor, sleep, type ActorConfig, type HostConfig } from "./common.js";

const ACTOR = fileURLToPath(new URL("./actor.js", import.meta.url));
const FREEZE_LIMIT_MS = 3000;

const cfg = JSON.parse(process.env.H5TS_TORTURE_HOST ?? "{}") as HostConfig;
await import("../../src/register.js"); // shares the wake-up counters with the workers

const ctlBuffer = new SharedArrayBuffer(4 * ctlSize(cfg.workers));
const ctl = new Int32Array(ctlBuffer);
const fd = openSync(join(cfg.logDir, `host-${cfg.hostNum}.log`), "a");
const log = (e: Record<string, unknown>, t = nowUs()) => writeSync(fd, JSON.stringify({ t, ...e }) + "\n");
const send = (m: unknown) => process.send?.(m);

interface Slot {
  worker: Worker;
  actor: string;
  /** Ended by a fault of ours. */
  killed: boolean;
  done: boolean;
  exited: Promise<void>;
}

const slots: Slot[] = [];
let started = 0;
const generations: number[] = [];
let stopping = false;
let terminating = false;

function startActor(slot: number): void {
  const gen = (generations[slot] = (generations[slot] ?? -1) + 1);
  const actor = `h${cfg.hostNum}.w${slot}.${gen}`;
  const num = cfg.hostNum * 4096 + started++;
  const logPath = join(cfg.logDir, `actor-${actor}.log`);
  Atomics.store(ctl, ctlFreeze(slot), 0);
  Atomics.store(ctl, ctlTaint(slot), 0);
  const config: ActorConfig = {
    id: actor,
    num,
    seed: seedFor(cfg.seed, cfg.hostNum, slot, gen),
    logPath,
    files: cfg.files,
    endAtUs: cfg.endAtUs,
    tasks: cfg.tasks,
    mix: cfg.mix,
    ctl: ctlBuffer,
    slot,
    longHoldMs: cfg.longHoldMs,
  };
  log({ k: "actor", actor, num: config.num, slot, log: logPath });
  const worker = new Worker(ACTOR, { workerData: config });
  let error: string | undefined;
  worker.on("error", (e) => (error = String((e as Error)?.stack ?? e).slice(0, 800)));
  const entry: Slot = { worker, actor, killed: false, done: false, exited: Promise.resolve() };
  entry.exited = new Promise((resolve) =>
    worker.on("exit", (code) => {
      if (!entry.killed) {
        log({ k: "actor-exit", actor, code, ...(error ? { error } : {}) });
        if (code !== 0 || error) send({ crash: actor, code, error });
      }
      entry.done = true;
      resolve();
    }),
  );
  slots[slot] = entry;
}

/** Freezes `victims` and waits until none of them is tainted; false if that takes too long. */
async function freeze(victims: number[], whole: boolean): Promise<boolean> {
  if (whole) Atomics.store(ctl, CTL_HOST_FREEZE, 1);
  for (const v of victims) Atomics.store(ctl, ctlFreeze(v), 1);
  const end = performance.now() + FREEZE_LIMIT_MS;
  while (victims.some((v) => Atomics.load(ctl, ctlTaint(v)) > 0)) {
    if (performance.now() > end) {
      thaw(victims, whole);
      return false;
    }
    await sleep(1);
  }
  return true;
}

function thaw(victims: number[], whole: boolean): void {
  if (whole) Atomics.store(ctl, CTL_HOST_FREEZE, 0);
  for (const v of victims) Atomics.store(ctl, ctlFreeze(v), 0);
}

async function faults(): Promise<void> {
  const rnd = prng(seedFor(cfg.seed, cfg.hostNum, 0xfa017));
  // No fault in the last stretch: replacements must have time to start and finish.
  const lastUs = cfg.endAtUs - 2_000_000;
  for (;;) {
    await sleep(-Math.log(1 - rnd()) * cfg.faultEveryMs);
    if (stopping || nowUs() > lastUs) return;
    if (rnd() < cfg.killShare) {
      const all = slots.map((_, i) => i);
      if (!(await freeze(all, true))) {
        log({ k: "fault-skipped", kind: "sigkill", why: `an actor kept a file open for writing ${FREEZE_LIMIT_MS} ms` });
        continue;
      }
      // The controller kills this process; it answers only if it will not.
      send({ killMe: true });
      const answer = await new Promise<unknown>((r) => process.once("message", r));
      log({ k: "fault-skipped", kind: "sigkill", why: `controller: ${JSON.stringify(answer)}` });
      thaw(all, true);
    } else {
      const slot = Math.floor(rnd() * slots.length);
      if (!(await freeze([slot], false))) {
        log({ k: "fault-skipped", kind: "terminate", why: `the actor kept a file open for writing ${FREEZE_LIMIT_MS} ms` });
        continue;
      }
      const victim = slots[slot];
      if (victim.done) continue;
      victim.killed = true;
      terminating = true;
      log({ k: "terminate", actor: victim.actor });
      await victim.worker.terminate();
      await victim.exited;
      if (nowUs() < lastUs) startActor(slot);
      terminating = false;
    }
  }
}

// Evaluated in a frame of h5wasm's runtime: fails (silently) in any other frame.
const STREAMS = `(() => {
  const fs = require("fs");
  const at = (f) => { try { return f(); } catch (e) { return e.code || String(e); } };
  const streams = FS.streams.map((s, i) => s && s.nfd > 2 && { fd: i, nfd: s.nfd, path: s.path, flags: s.flags, opens: at(() => fs.readlinkSync("/proc/self/fd/" + s.nfd)), ino: at(() => fs.fstatSync(s.nfd).ino), pathIno: at(() => fs.statSync(s.path).ino) }).filter(Boolean);
  const fds = fs.readdirSync("/proc/self/fd").map((n) => n + " -> " + at(() => fs.readlinkSync("/proc/self/fd/" + n)));
  return JSON.stringify(streams) + "\\n" + fds.join("; ");
})()`;

/**
 * On SIGUSR2 (sent by the controller when the run is stuck), the JavaScript and wasm
 * stacks of every actor thread, paused through the inspector, go to `stacks-host-N.txt`:
 * a thread spinning in user space shows where (the OS thread dump cannot).
 */
function dumpActorStacks(): void {
  const path = join(cfg.logDir, `stacks-host-${cfg.hostNum}.txt`);
  const session = new Session();
  session.connect();
  const names = new Map<string, string>();
  const out: string[] = [];
  let id = 1;
  session.on("NodeWorker.attachedToWorker", ({ params }) => {
    const { sessionId, workerInfo } = params as { sessionId: string; workerInfo: { title: string; workerId: string } };
    names.set(sessionId, `${workerInfo.title} (worker ${workerInfo.workerId})`);
    for (const method of ["Debugger.enable", "Debugger.pause"]) {
      session.post("NodeWorker.sendMessageToWorker", { sessionId, message: JSON.stringify({ id: id++, method }) });
    }
  });
  const post = (sessionId: string, method: string, params?: unknown) =>
    session.post("NodeWorker.sendMessageToWorker", { sessionId, message: JSON.stringify({ id: id++, method, params }) });
  const write = () => writeFileSync(path, out.join("\n\n") + "\n");
  session.on("NodeWorker.receivedMessageFromWorker", ({ params }) => {
    const { sessionId, message } = params as { sessionId: string; message: string };
    const m = JSON.parse(message) as {
      method?: string;
      params?: { callFrames: { callFrameId: string; functionName: string; url: string; location: { lineNumber: number; columnNumber: number } }[] };
      result?: { result?: { value?: unknown } };
    };
    if (m.result?.result?.value !== undefined) {
      out.push(`${names.get(sessionId)}, h5wasm's streams and this process's descriptors:\n${String(m.result.result.value)}`);
      return write();
    }
    if (m.method !== "Debugger.paused" || !m.params) return;
    const frames = m.params.callFrames.map((f) => `  ${f.functionName || "(anonymous)"} ${f.url}:${f.location.lineNumber + 1}:${f.location.columnNumber + 1}`);
    out.push(`${names.get(sessionId)}:\n${frames.join("\n")}`);
    write();
    // Inside h5wasm's runtime (its module scope has FS and require): which file each of
    // HDF5's streams is open on, against the name it was opened by.
    for (const f of m.params.callFrames) post(sessionId, "Debugger.evaluateOnCallFrame", { callFrameId: f.callFrameId, expression: STREAMS, silent: true });
  });
  session.post("NodeWorker.enable", { waitForDebuggerOnStart: false });
}
process.on("SIGUSR2", dumpActorStacks);

for (let i = 0; i < cfg.workers; i++) startActor(i);
const faulting = cfg.faults ? faults() : Promise.resolve();

// Ends when every actor has ended by itself after the end of the run (actors started as
// replacements included).
while (terminating || !slots.every((s) => s.done)) {
  await Promise.all(slots.map((s) => s.exited));
  await sleep(10);
}
stopping = true;
await Promise.race([faulting, sleep(100)]);
closeSync(fd);
send({ done: true });
process.disconnect?.();
