// Test side of test/fixtures/agent.ts: start an agent in a worker thread or a child
// process, send it commands, await its replies.

import { fork, spawn, type ChildProcess } from "node:child_process";
import { Worker } from "node:worker_threads";
import { fileURLToPath } from "node:url";

import type { AgentConfig, Command, Reply } from "./commands.js";

const AGENT = fileURLToPath(new URL("../fixtures/agent.js", import.meta.url));

export type Where = "thread" | "process";
export type { Command, Reply };

export interface AgentOptions {
  patch?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Run a child process as another user. */
  uid?: number;
  gid?: number;
  /** Run a child process through a command (e.g. `unshare --uts ...`) that ends by exec'ing the node command it is given. */
  prefix?: string[];
  /** Its name in the ordering log, and the log (see AgentConfig). */
  name?: string;
  log?: string;
}

let agents = 0;

export class Agent {
  readonly where: Where;
  readonly pid: number | undefined;
  #port: Worker | ChildProcess;
  #next = 0;
  #waiting = new Map<number, (r: Reply) => void>();
  #ready: Promise<void>;
  stderr = "";
  exited: Promise<number | null>;
  /** How it ended: exit code, or the signal that ended it (processes). */
  exitedBy: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  readonly name: string;

  constructor(where: Where, options: AgentOptions = {}) {
    this.where = where;
    this.name = options.name ?? `${where}${++agents}`;
    const config: AgentConfig = { patch: options.patch ?? true, name: this.name, log: options.log };
    if (where === "thread") {
      const w = new Worker(AGENT, { workerData: config, stderr: true, env: { ...process.env, ...options.env } });
      w.stderr.on("data", (d) => (this.stderr += d));
      this.#port = w;
      this.pid = process.pid;
      this.exited = new Promise((res) => w.on("exit", res));
      this.exitedBy = this.exited.then((code) => ({ code, signal: null }));
    } else {
      const spawnOptions = {
        env: { ...process.env, ...options.env, H5TS_AGENT: JSON.stringify(config) },
        stdio: ["ignore", "ignore", "pipe", "ipc"] as ("ignore" | "pipe" | "ipc")[],
        uid: options.uid,
        gid: options.gid,
      };
      const c = options.prefix
        ? spawn(options.prefix[0], [...options.prefix.slice(1), process.execPath, AGENT], spawnOptions)
        : fork(AGENT, [], spawnOptions);
      c.stderr!.on("data", (d) => (this.stderr += d));
      this.#port = c;
      this.pid = c.pid;
      this.exitedBy = new Promise((res) => c.on("exit", (code, signal) => res({ code, signal })));
      this.exited = this.exitedBy.then((e) => e.code);
    }
    let ready!: () => void;
    let failed!: (e: Error) => void;
    this.#ready = new Promise((res, rej) => ((ready = res), (failed = rej)));
    // A child that cannot start (another user who cannot read the checkout, say) fails now, not at a timeout.
    void this.exited.then((code) => failed(new Error(`agent ${this.name} exited (${code}) before it was ready: ${this.stderr.trim().split("\n").slice(-3).join(" / ")}`)));
    this.#port.on("message", (m: any) => {
      if (m.ready) return ready();
      const done = this.#waiting.get(m.id);
      this.#waiting.delete(m.id);
      done?.(m);
    });
  }

  /** Sends a command; the promise settles with the agent's reply (never rejects on agent errors). */
  async send(cmd: Command): Promise<Reply> {
    await this.#ready;
    const id = ++this.#next;
    const reply = new Promise<Reply>((res) => this.#waiting.set(id, res));
    if (this.#port instanceof Worker) this.#port.postMessage({ ...cmd, id });
    else this.#port.send({ ...cmd, id });
    return reply;
  }

  /** Sends a command that must succeed; returns its value. */
  async do(cmd: Command): Promise<any> {
    const r = await this.send(cmd);
    if (!r.ok) throw new Error(`agent ${cmd.cmd} failed: ${r.error?.name} ${r.error?.code ?? ""} ${r.error?.message}`);
    return r.value;
  }

  /** Asks the agent to exit normally (process.exit); resolves with its exit code. */
  async exit(code = 0): Promise<number | null> {
    void this.send({ cmd: "exit", code });
    return this.exited;
  }

  async ready(): Promise<void> {
    await this.#ready;
  }

  /** The OS-level kill of a child, or terminate() of a worker. */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    if (this.#port instanceof Worker) await this.#port.terminate();
    else {
      this.#port.kill(signal);
      await this.exited;
    }
  }

  async stop(): Promise<void> {
    if (this.#port instanceof Worker) await this.#port.terminate();
    else if ((this.#port as ChildProcess).exitCode === null) {
      (this.#port as ChildProcess).kill("SIGKILL");
      await this.exited;
    }
  }
}

/** Polls `check` until it is true (every 5 ms); throws after `ms`. */
export async function until(check: () => boolean, ms = 15_000, what = "condition"): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
