// One thread, one lock: reopens in the thread that holds a file join its lock without
// waiting, the lock follows the handles as they close, and what HDF5 refuses in one
// instance is still refused the same way.

import { expect } from "chai";
import { inspect } from "../src/index.js";
import { until } from "./support/agent.js";
import { scenario } from "./support/scenario.js";

const modes = (file: string) => inspect(file).holders.map((h) => h.lock);

describe("same-thread reopen rules", function () {
  const s = scenario("same.h5");
  const agent = (patch = true, where: "thread" | "process" = "thread") => s.start(where, { patch });
  let file: string;
  beforeEach(() => (file = s.file));

  it("a reopen covered by an exclusive lock joins it; the lock stays as strong as HDF5's open until the last handle closes", async function () {
    const a = await agent();
    const w = await a.do({ cmd: "open", file, mode: "a" });
    const r = await a.do({ cmd: "open", file, mode: "r" });
    expect(BigInt(r.fileId) >= 0n).to.equal(true);
    expect(modes(file)).to.deep.equal(["exclusive"]);
    await a.do({ cmd: "close", index: w.index });
    expect(modes(file), "HDF5 still has the file open for writing").to.deep.equal(["exclusive"]);
    await a.do({ cmd: "close", index: r.index });
    expect(modes(file)).to.deep.equal([]);
  });

  it("w, then start_swmr_write, then Sr in one thread (h5wasm's own SWMR test)", async function () {
    const a = await agent();
    const w = await a.do({ cmd: "open", file, mode: "w", options: { libver: "v110" } });
    expect(modes(file)).to.deep.equal(["exclusive"]);
    await a.do({ cmd: "swmr", index: w.index });
    expect(modes(file)).to.deep.equal(["swmr-write"]);
    const r = await a.do({ cmd: "open", file, mode: "Sr" });
    expect(BigInt(r.fileId) >= 0n).to.equal(true);
    expect(modes(file)).to.deep.equal(["swmr-write"]);
    await a.do({ cmd: "close", index: w.index });
    expect(modes(file), "only Sr handles remain, but HDF5 still has the file open for SWMR writing").to.deep.equal(["swmr-write"]);
    await a.do({ cmd: "close", index: r.index });
    expect(modes(file)).to.deep.equal([]);
  });

  it("a compatible reopen joins at once even while another thread's writer waits", async function () {
    const [reader, writer] = [await agent(), await agent()];
    const r1 = await reader.do({ cmd: "open", file, mode: "r" });
    const writing = writer.do({ cmd: "open", file, mode: "a" });
    await until(() => inspect(file).waiters.length === 1, 15_000, "the writer to wait");
    const r2 = await reader.do({ cmd: "open", file, mode: "r" });
    expect(BigInt(r2.fileId) >= 0n).to.equal(true);
    await reader.do({ cmd: "close", index: r1.index });
    expect(inspect(file).waiters.map((x) => x.lock), "one reader handle is still open").to.deep.equal(["exclusive"]);
    await reader.do({ cmd: "close", index: r2.index });
    const w = await writing;
    expect(s.order()).to.deep.equal([`${reader.name} opened r`, `${reader.name} opened r`, `${reader.name} closing`, `${reader.name} closing`, `${writer.name} opened a`]);
    expect(modes(file)).to.deep.equal(["exclusive"]);
    await writer.do({ cmd: "close", index: w.index });
  });

  it("an incompatible reopen goes to h5wasm, which refuses it exactly as without the patch", async function () {
    const results = [];
    for (const patch of [false, true]) {
      const a = await agent(patch, "process"); // a process, so that HDF5's stderr is captured
      const r = await a.do({ cmd: "open", file, mode: "r" });
      const again = await a.send({ cmd: "open", file, mode: "a" });
      if (patch) expect(modes(file), "the thread's lock is unchanged").to.deep.equal(["shared"]);
      await a.do({ cmd: "close", index: r.index });
      await a.exit();
      results.push({ ok: again.ok, refused: again.ok ? BigInt(again.value.fileId) < 0n : again.error?.message, stderr: a.stderr });
    }
    expect(results[0]).to.include({ ok: true, refused: true });
    expect(results[0].stderr).to.include("file is already open for read-only");
    expect(results[1]).to.deep.equal(results[0]);
    expect(modes(file)).to.deep.equal([]);
  });

  it("an Sa writer with Sr readers in other workers: readers enter at once and see appends", async function () {
    const [w, r1, r2] = [await agent(), await agent(), await agent()];
    const hw = await w.do({ cmd: "open", file, mode: "Sa" });
    const h1 = await r1.do({ cmd: "open", file, mode: "Sr" });
    const h2 = await r2.do({ cmd: "open", file, mode: "Sr" });
    expect(modes(file).sort()).to.deep.equal(["swmr-read", "swmr-read", "swmr-write"]);
    await w.do({ cmd: "extend", index: hw.index, values: [4, 5] });
    for (const [a, h] of [[r1, h1], [r2, h2]] as const) {
      const { values } = await a.do({ cmd: "read", index: h.index, refresh: true });
      expect(values).to.deep.equal([1, 2, 3, 4, 5]);
    }
    await Promise.all([w.do({ cmd: "close", index: hw.index }), r1.do({ cmd: "close", index: h1.index }), r2.do({ cmd: "close", index: h2.index })]);
    expect(modes(file)).to.deep.equal([]);
  });
});

describe("writer preference", function () {
  const s = scenario("pref.h5");

  it("readers that come after a waiting writer queue behind it", async function () {
    const file = s.file;
    const [a, b, c] = [await s.start("thread", { name: "reader1" }), await s.start("process", { name: "writer" }), await s.start("thread", { name: "reader2" })];
    const r1 = await a.do({ cmd: "open", file, mode: "r" });
    const writing = b.do({ cmd: "open", file, mode: "a" });
    await until(() => inspect(file).waiters.length === 1, 15_000, "the writer to wait");
    const reading = c.do({ cmd: "open", file, mode: "r" });
    await until(() => inspect(file).waiters.length === 2, 15_000, "the late reader to wait");
    await a.do({ cmd: "close", index: r1.index });
    const w = await writing;
    expect(inspect(file).holders.map((h) => h.lock)).to.deep.equal(["exclusive"]);
    expect(inspect(file).waiters.map((h) => h.lock), "the reader entered beside the writer").to.deep.equal(["shared"]);
    await b.do({ cmd: "close", index: w.index });
    const r2 = await reading;
    expect(s.order(), "a reader overtook the waiting writer").to.deep.equal(["reader1 opened r", "reader1 closing", "writer opened a", "writer closing", "reader2 opened r"]);
    await c.do({ cmd: "close", index: r2.index });
    expect(inspect(file).holders).to.deep.equal([]);
  });
});
