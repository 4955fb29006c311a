// The setting most tests share: a fresh folder with one HDF5 file in it, and agents
// started on demand, all stopped and removed after each test.

import { join } from "node:path";
import { Agent, type Where } from "./agent.js";
import { makeH5, tempDir } from "./files.js";

export interface Scenario {
  /** The test's folder (fresh for each test). */
  dir: string;
  /** An HDF5 file in it, fit for every mode (SWMR included). */
  file: string;
  /** Starts an agent, stopped after the test. */
  start(where: Where, options?: ConstructorParameters<typeof Agent>[1]): Promise<Agent>;
}

/** Registers the hooks of a scenario in the enclosing describe(); returns it. */
export function scenario(fileName = "f.h5", prepare?: (dir: string) => void): Scenario {
  let tmp: ReturnType<typeof tempDir> | undefined;
  const agents: Agent[] = [];
  const s: Scenario = {
    dir: "",
    file: "",
    async start(where, options) {
      const a = new Agent(where, options);
      agents.push(a);
      await a.ready();
      return a;
    },
  };
  beforeEach(async () => {
    tmp = tempDir();
    prepare?.(tmp.dir);
    s.dir = tmp.dir;
    s.file = join(tmp.dir, fileName);
    await makeH5(s.file);
  });
  afterEach(async () => {
    await Promise.all(agents.splice(0).map((a) => a.stop()));
    tmp?.cleanup();
  });
  return s;
}
