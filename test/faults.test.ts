// Surviving faults: holders killed with SIGKILL, workers ended with terminate(), a holder
// busy in one long synchronous call, a process killed between creating its record and marking it, many
// contenders after a crash. Dead holders stop blocking at once; a live one never does.
// Time bounds here are wide on purpose (a loaded 2-core machine); the benchmark measures.

import { expect } from "chai";
import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import h5wasm from "h5wasm/node";
import { inspect } from "../src/index.js";
import { until, type Agent } from "./support/agent.js";
import { scenario } from "./support/scenario.js";

const HALF_TAKER = fileURLToPath(new URL("./fixtures/half-taker.js", import.meta.url));
const BOUND_MS = 3000;

describe("faults", function () {
  const s = scenario("f.h5");
  const start = s.start;
  let file: string;
  let dir: string;
  beforeEach(() => ({ file, dir } = s));

  /** The holder holds `held`; a contender waits for `wanted`; `kill` ends the holder. */
  async function recovery(holder: Agent, held: string, contender: Agent, wanted: string, kill: () => Promise<void>) {
    await holder.do({ cmd: "open", file, mode: held });
    const opening = contender.do({ cmd: "open", file, mode: wanted });
    await until(() => inspect(file).waiters.length === 1, 15_000, "the contender to wait");
    s.note("killing holder");
    const t0 = performance.now();
    await kill();
    const c = await opening;
    expect(s.order()).to.deep.equal([`${holder.name} opened ${held}`, "killing holder", `${contender.name} opened ${wanted}`]);
    const ms = performance.now() - t0;
    expect(ms, "recovery time").to.be.below(BOUND_MS);
    await contender.do({ cmd: "close", index: c.index });
    expect(inspect(file).holders).to.deep.equal([]);
    return ms;
  }

  for (const held of ["r", "a"]) {
    it(`a process holding ${held} killed with SIGKILL stops blocking at once`, async function () {
      const holder = await start("process");
      const contender = await start("thread");
      await recovery(holder, held, contender, held === "r" ? "a" : "r", () => holder.kill("SIGKILL"));
    });
  }

  for (const held of ["r", "Sr", "a", "Sa"]) {
    it(`a worker holding ${held} ended with terminate() stops blocking at once`, async function () {
      const holder = await start("thread");
      const contender = await start("process");
      await recovery(holder, held, contender, "a", () => holder.kill());
    });
  }

  it("a holder busy in one 15 s synchronous call keeps its lock all along", async function () {
    this.timeout(60_000);
    const holder = await start("thread");
    const contender = await start("process");
    const h = await holder.do({ cmd: "open", file, mode: "a" });
    const busy = holder.do({ cmd: "busy", ms: 15_000 });
    const opening = contender.do({ cmd: "open", file, mode: "r" });
    await until(() => inspect(file).waiters.length === 1, 15_000, "the contender to wait");
    let done = false;
    void busy.then(() => (done = true));
    // While the holder is busy, every look shows it alive and holding, and the contender waiting.
    while (!done) {
      await new Promise((r) => setTimeout(r, 1000));
      const state = inspect(file);
      expect(state.holders.map((x) => [x.lock, x.alive])).to.deep.equal([["exclusive", true]]);
      expect(state.waiters.map((x) => x.lock)).to.deep.equal(["shared"]);
    }
    await holder.do({ cmd: "close", index: h.index });
    const c = await opening;
    expect(s.order(), "the contender got in while the holder was busy").to.deep.equal([`${holder.name} opened a`, `${holder.name} closing`, `${contender.name} opened r`]);
    await contender.do({ cmd: "close", index: c.index });
  });

  it("a process killed in the middle of taking the lock blocks nobody", async function () {
    // The child's record is on disk, waiting, as if it died between creating and marking it.
    const child = spawn(process.execPath, [HALF_TAKER, file], { stdio: "ignore" });
    await until(() => inspect(file).waiters.length === 1, 15_000, "the half-taken lock");
    child.kill("SIGKILL");
    await new Promise((r) => child.on("exit", r));
    const contenders = [await start("thread"), await start("process"), await start("thread")];
    const t0 = performance.now();
    const opened = await Promise.all(contenders.map((c) => c.do({ cmd: "open", file, mode: "r" })));
    expect(performance.now() - t0).to.be.below(BOUND_MS);
    expect(inspect(file).holders.length).to.equal(3);
    await Promise.all(contenders.map((c, i) => c.do({ cmd: "close", index: opened[i].index })));
    await until(() => !existsSync(join(dir, ".f.h5.h5ts")), 5000, "the lock folder to go");
  });

  it("a waiter killed while others stand back behind it blocks nobody", async function () {
    const holder = await start("thread");
    const h = await holder.do({ cmd: "open", file, mode: "r" });
    const writer = await start("process");
    void writer.send({ cmd: "open", file, mode: "a" });
    await until(() => inspect(file).waiters.length === 1, 15_000, "the writer to wait");
    const reader = await start("thread");
    const reading = reader.do({ cmd: "open", file, mode: "r" });
    await until(() => inspect(file).waiters.length === 2, 15_000, "the reader to stand back behind it");
    s.note("killing writer");
    const t0 = performance.now();
    await writer.kill("SIGKILL");
    const r = await reading;
    expect(s.order(), "the reader overtook the waiting writer").to.deep.equal([`${holder.name} opened r`, "killing writer", `${reader.name} opened r`]);
    expect(performance.now() - t0).to.be.below(BOUND_MS);
    await reader.do({ cmd: "close", index: r.index });
    await holder.do({ cmd: "close", index: h.index });
  });

  it("idle records of a worker terminated before it could remove them do not stay", async function () {
    const reader = await start("thread");
    const h = await reader.do({ cmd: "open", file, mode: "r" });
    await reader.do({ cmd: "closeAndHang", index: h.index });
    await reader.kill();
    const folder = join(dir, ".f.h5.h5ts");
    expect(existsSync(folder) && readdirSync(folder).length, "the idle record is left").to.equal(1);
    const writer = await start("process");
    const w = await writer.do({ cmd: "open", file, mode: "a" });
    await writer.do({ cmd: "close", index: w.index });
    await until(() => !existsSync(folder), 5000, "the lock folder to go");
  });

  it("many contenders after a crashed writer all get their turn, and lose nothing", async function () {
    // A file without SWMR superblock flags, so the killed writer leaves it readable.
    await h5wasm.ready;
    const plain = join(dir, "plain.h5");
    new h5wasm.File(plain, "w").close();
    const holder = await start("process");
    await holder.do({ cmd: "open", file: plain, mode: "a" });
    const contenders = [await start("thread"), await start("thread"), await start("process"), await start("process")];
    const appending = contenders.map((c, i) => c.do({ cmd: "append", file: plain, prefix: `c${i}`, count: 5 }));
    await until(() => inspect(plain).waiters.length === contenders.length, 15_000, "all contenders to wait");
    await holder.kill("SIGKILL");
    await Promise.all(appending);
    const f = new h5wasm.File(plain, "r");
    const keys = f.keys();
    f.close();
    expect(keys.length).to.equal(20);
    expect(inspect(plain)).to.deep.include({ holders: [], waiters: [] });
  });
});
