// The setting most tests share: a fresh folder with one HDF5 file in it, agents started on
// demand, and an ordering log that they and the test append to; all stopped and removed
// after each test.

import { appendFileSync, chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Agent, type AgentOptions, type Where } from "./agent.js";
import { makeH5, tempDir } from "./files.js";

export interface Scenario {
  /** The test's folder (fresh for each test). */
  dir: string;
  /** An HDF5 file in it, fit for every mode (SWMR included). */
  file: string;
  /** Starts an agent, stopped after the test; it writes the scenario's ordering log. */
  start(where: Where, options?: AgentOptions): Promise<Agent>;
  /** The ordering log so far: "<agent> opened <mode>", "<agent> closing", and the test's own notes. */
  order(): string[];
  /** Adds a line of the test's own to the ordering log (e.g. "killed holder", before the kill). */
  note(line: string): void;
  /** The ordering log's path, for other programs of the test to append to. */
  readonly log: string;
}

/** Registers the hooks of a scenario in the enclosing describe(); returns it. */
export function scenario(fileName = "f.h5", prepare?: (dir: string) => void): Scenario {
  let tmp: ReturnType<typeof tempDir> | undefined;
  // The log lives apart from the test's folder (tests list that folder), open to agents
  // running as another user.
  let logDir: ReturnType<typeof tempDir> | undefined;
  let log = "";
  const agents: Agent[] = [];
  const s: Scenario = {
    dir: "",
    file: "",
    async start(where, options) {
      const a = new Agent(where, { log, ...options });
      agents.push(a);
      await a.ready();
      return a;
    },
    order() {
      return readFileSync(log, "utf8").split("\n").filter(Boolean);
    },
    note(line) {
      appendFileSync(log, `${line}\n`);
    },
    get log() {
      return log;
    },
  };
  beforeEach(async () => {
    tmp = tempDir();
    prepare?.(tmp.dir);
    s.dir = tmp.dir;
    s.file = join(tmp.dir, fileName);
    await makeH5(s.file);
    logDir = tempDir("h5ts-log-");
    chmodSync(logDir.dir, 0o755);
    log = join(logDir.dir, "order.log");
    writeFileSync(log, "");
    chmodSync(log, 0o666);
  });
  afterEach(async () => {
    await Promise.all(agents.splice(0).map((a) => a.stop()));
    tmp?.cleanup();
    logDir?.cleanup();
  });
  return s;
}
