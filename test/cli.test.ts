// The command line: `status` tells the truth while workers and processes hold a file;
// `clear` removes what is gone and refuses what lives, unless forced.

import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { hostname } from "node:os";
import { fileURLToPath } from "node:url";
import { inspect } from "../src/index.js";
import { until } from "./support/agent.js";
import { scenario } from "./support/scenario.js";

const CLI = fileURLToPath(new URL("../src/cli.js", import.meta.url));
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8" });

describe("the h5-threadsafe command", function () {
  const s = scenario("held.h5");
  const start = s.start;
  let file: string;
  beforeEach(() => (file = s.file));

  it("status lists holders and waiters in threads and processes, as text and JSON", async function () {
    let r = cli("status", file);
    expect(r.status).to.equal(0);
    expect(r.stdout).to.match(/held\.h5: free\n$/);
    const [t, p, w] = [await start("thread"), await start("process"), await start("process")];
    await t.do({ cmd: "open", file, mode: "r" });
    await p.do({ cmd: "open", file, mode: "Sr" });
    void w.do({ cmd: "open", file, mode: "a" });
    await until(() => inspect(file).waiters.length === 1, 15_000, "the writer to wait");
    r = cli("status", "--json", file);
    expect(r.status, r.stderr).to.equal(3);
    const [state] = JSON.parse(r.stdout);
    const holders = state.holders.map((h: any) => [h.mode, h.pid, h.threadId > 0, h.host, h.alive]);
    expect(holders).to.have.deep.members([
      ["shared", process.pid, true, hostname(), true],
      ["swmr-read", p.pid, false, hostname(), true],
    ]);
    expect(state.waiters.map((h: any) => [h.mode, h.pid, h.alive])).to.deep.equal([["exclusive", w.pid, true]]);
    r = cli("status", file);
    expect(r.status).to.equal(3);
    expect(r.stdout).to.include("2 holder(s), 1 waiter(s)").and.include(`swmr-read by pid ${p.pid}`).and.include("waiter exclusive");
  });

  it("clear removes holders that are gone, refuses live ones, and --force removes them too", async function () {
    const [dead, live] = [await start("process"), await start("process")];
    await dead.do({ cmd: "open", file, mode: "r" });
    await live.do({ cmd: "open", file, mode: "r" });
    await dead.kill("SIGKILL");
    let r = cli("status", file);
    expect(r.stdout).to.include(`shared by pid ${dead.pid}`).and.include("(gone)");
    r = cli("clear", file);
    expect(r.status).to.equal(4);
    expect(r.stdout).to.include("removed 1 gone; refused: 1 live");
    expect(inspect(file).holders.map((h) => h.pid)).to.deep.equal([live.pid]);
    r = cli("clear", "--force", file);
    expect(r.status).to.equal(0);
    expect(inspect(file).holders).to.deep.equal([]);
  });

  it("status: a missing file is an error (exit 1); only gone holders left is no hold (exit 0)", async function () {
    const r = cli("status", file + ".missing");
    expect(r.status).to.equal(1);
    expect(r.stderr).to.include("no such file");
    const dead = await start("process");
    await dead.do({ cmd: "open", file, mode: "a" });
    await dead.kill("SIGKILL");
    const gone = cli("status", file);
    expect(gone.stdout).to.include("(gone)");
    expect(gone.status, "only a gone holder").to.equal(0);
  });

  it("says how it is used, with exit code 2 for bad usage", function () {
    expect(cli("--help").stdout).to.include("Usage: h5-threadsafe");
    expect(cli("--version").stdout.trim()).to.match(/^\d+\.\d+\.\d+/);
    for (const args of [[], ["status"], ["frobnicate", file], ["status", "--nope", file]]) {
      const r = cli(...args);
      expect(r.status, args.join(" ")).to.equal(2);
      expect(r.stderr).to.include("Usage:");
    }
  });
});
