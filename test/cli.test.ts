// The command line: `status` tells the truth while workers and processes hold a file;
// `clear` removes what is gone and refuses what lives, unless forced.

import { expect } from "chai";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
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
    const holders = state.holders.map((h: any) => [h.lock, h.pid, h.threadId > 0, h.host, h.alive]);
    expect(holders).to.have.deep.members([
      ["shared", process.pid, true, hostname(), true],
      ["swmr-read", p.pid, false, hostname(), true],
    ]);
    expect(state.waiters.map((h: any) => [h.lock, h.pid, h.alive])).to.deep.equal([["exclusive", w.pid, true]]);
    r = cli("status", file);
    expect(r.status).to.equal(3);
    expect(r.stdout).to.include("2 holder(s), 1 waiter(s)").and.include(`swmr-read by pid ${p.pid}`).and.include("waiter exclusive");
  });

  it("clear removes the empty folders that a process killed while making a lock folder left, once a minute old", function () {
    // makeFolder makes a lock folder under a temporary name and renames it into place: a
    // SIGKILL in between leaves the temporary one (empty) beside the file.
    const dir = join(file, "..");
    const old = join(dir, ".held.h5.h5ts.4242-0-0123abcd.tmp");
    const short = join(dir, ".h5ts.4242-3-89abcdef.tmp"); // the short name of a long file's folder
    const young = join(dir, ".held.h5.h5ts.4243-0-feedbeef.tmp");
    const notOurs = join(dir, ".held.h5.h5ts.4244-0-00000000.tmp");
    for (const d of [old, short, young, notOurs]) mkdirSync(d);
    writeFileSync(join(notOurs, "something"), "kept"); // not empty: never ours to remove
    const aMinuteAgo = new Date(Date.now() - 61_000);
    for (const d of [old, short, notOurs]) utimesSync(d, aMinuteAgo, aMinuteAgo);
    const r = cli("clear", file);
    expect(r.status, r.stderr).to.equal(0);
    expect([old, short, young, notOurs].map((d) => existsSync(d))).to.deep.equal([false, false, true, true]);
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

  it("clear --force never leaves a lock nobody can see: a waiter whose record it removed takes a new one; an idle record of a live thread stays", async function () {
    const [holder, waiter, idler] = [await start("process"), await start("process"), await start("thread")];
    const h = await holder.do({ cmd: "open", file, mode: "a" });
    const opening = waiter.do({ cmd: "open", file, mode: "r" });
    await until(() => inspect(file).waiters.length === 1, 15_000, "the waiter");
    expect(cli("clear", "--force", file).status).to.equal(0);
    // The holder's record is gone, as --force asked: the waiter takes the lock, by a record
    // everyone sees (its own was removed too: it made a new one). The holder's flock on the
    // data file still holds it back until the holder closes.
    await until(() => inspect(file).holders.some((x) => x.pid === waiter.pid), 15_000, "the waiter's new record to hold");
    await holder.do({ cmd: "close", index: h.index });
    await opening;
    expect(inspect(file).holders.map((x) => x.pid)).to.deep.equal([waiter.pid]);
    await waiter.kill();
    const i = await idler.do({ cmd: "open", file, mode: "r" });
    await idler.send({ cmd: "closeAndHang", index: i.index }); // its record now idle, its thread alive
    cli("clear", "--force", file); // also removes the killed waiter's record
    const left = readdirSync(join(s.dir, ".held.h5.h5ts"));
    expect(left.map((n) => n.split(",")[4]), "only the idle record of the live thread (in this process)").to.deep.equal([String(process.pid)]);
  });

  it("run: an unknown mode (a typo) is bad usage, and runs nothing (it locked a file named \"held.h5:R\" and ran the command unguarded)", function () {
    const marker = join(s.dir, "ran");
    const r = cli("run", `${file}:R`, "--", process.execPath, "-e", `require("fs").writeFileSync(${JSON.stringify(marker)}, "")`);
    expect(r.status, r.stderr).to.equal(2);
    expect(r.stderr).to.include("unknown mode");
    expect(existsSync(marker), "the command did not run").to.equal(false);
  });

  it("run takes several files in one order: two commands naming them in opposite orders both run (each held its first and waited for the other's, for ever)", async function () {
    const other = join(s.dir, "other.h5");
    const holder = await start("process");
    await holder.do({ cmd: "open", file, mode: "a" });
    await holder.do({ cmd: "open", file: other, mode: "w" });
    const runs = [
      [file, other],
      [other, file],
    ].map((files) => spawn(process.execPath, [CLI, "run", ...files, "--", process.execPath, "-e", "0"], { stdio: "ignore" }));
    const exits = runs.map((c) => new Promise<number | null>((r) => c.on("exit", (code) => r(code))));
    try {
      // Both wait before the holder lets go: each for the first file it takes.
      await until(() => inspect(file).waiters.length + inspect(other).waiters.length === 2, 15_000, "both runs to wait");
      await holder.do({ cmd: "close", index: 0 });
      await holder.do({ cmd: "close", index: 1 });
      const limit = new Promise((r) => setTimeout(() => r("stuck"), 20_000).unref());
      expect(await Promise.race([Promise.all(exits), limit])).to.deep.equal([0, 0]);
    } finally {
      for (const c of runs) c.kill("SIGKILL");
    }
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
