// Node writers and native HDF5 programs (h5py, h5dump) exclude each other through the data
// file's flock, which the patch takes once its record lock is granted.

import { expect } from "chai";
import { spawn, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { inspect } from "../../src/index.js";
import { nativeHolders } from "../../src/native/flock.js";
import { until } from "../support/agent.js";
import { PYTHON, h5dumpStatus, h5pyAppend, h5pyHold, h5pyKeys, h5pyTry, nativeToolsMissing } from "../support/native.js";
import { scenario } from "../support/scenario.js";

const CLI = fileURLToPath(new URL("../../src/cli.js", import.meta.url));
const SECONDS = Number(process.env.H5TS_INTEROP_SECONDS ?? 5);

describe("native HDF5 programs and Node", function () {
  before(function () {
    const why = nativeToolsMissing();
    if (why) {
      if (process.env.CI) throw new Error(`native tools missing in CI: ${why}`);
      console.log(`      (skipped: ${why})`);
      this.skip();
    }
  });
  const s = scenario("n.h5");

  it(`a Node writer and an h5py writer appending at once for ${SECONDS} s: the file stays whole, with every acknowledged append`, async function () {
    this.timeout(SECONDS * 1000 + 60_000);
    const node = await s.start("thread", { name: "N" });
    const [py, nd] = await Promise.all([h5pyAppend(s.file, "py", SECONDS), node.do({ cmd: "appendFor", file: s.file, prefix: "node", ms: SECONDS * 1000 })]);
    expect(h5dumpStatus(s.file), "h5dump reads the whole file").to.equal(0);
    const keys = new Set(h5pyKeys(s.file));
    const lost = [...py.done.map((i) => `py_${i}`), ...Array.from({ length: nd.count }, (_, i) => `node_${i}`)].filter((k) => !keys.has(k));
    expect(lost, "acknowledged appends missing").to.deep.equal([]);
    expect(py.done.length).to.be.greaterThan(0);
    expect(nd.count).to.be.greaterThan(0);
    expect(py.refused, "h5py was refused by Node's flock at least once (the two really met)").to.be.greaterThan(0);
    if (process.env.H5TS_INTEROP_SECONDS) console.log(`      h5py ${py.done.length} appends (${py.refused} opens refused and retried), Node ${nd.count} appends`);
  });

  // h5py holds / Node wants: waits where the flocks conflict (h5py r and Sr hold it shared,
  // a exclusive; Node takes shared for r and Sr, exclusive for a and w).
  const cases: [string, string, boolean][] = [
    ["r", "r", false],
    ["r", "Sr", false],
    ["r", "a", true],
    ["r", "w", true],
    ["Sr", "a", true],
    ["a", "r", true],
    ["a", "Sr", true],
    ["a", "a", true],
  ];
  for (const [held, wanted, waits] of cases) {
    it(`h5py holds ${held}, Node opens ${wanted}: ${waits ? "waits for h5py to close" : "opens at once"}`, async function () {
      const file = s.file;
      const a = await s.start("thread", { name: "A" });
      const py = await h5pyHold(file, held);
      s.note("h5py holds");
      const opening = a.do({ cmd: "open", file, mode: wanted });
      if (waits) {
        // Its record lock is granted (nobody else in Node holds), so it waits on the flock now.
        await until(() => inspect(file).holders.length === 1, 15_000, "Node's record lock");
        s.note("releasing h5py");
        await py.release();
        const h = await opening;
        expect(BigInt(h.fileId) >= 0n).to.equal(true);
        expect(s.order()).to.deep.equal(["h5py holds", "releasing h5py", `A opened ${wanted}`]);
        await a.do({ cmd: "close", index: h.index });
      } else {
        const h = await opening;
        expect(BigInt(h.fileId) >= 0n).to.equal(true);
        await a.do({ cmd: "close", index: h.index });
        s.note("releasing h5py");
        await py.release();
        expect(s.order()).to.deep.equal(["h5py holds", `A opened ${wanted}`, "A closing", "releasing h5py"]);
      }
      expect(h5dumpStatus(file)).to.equal(0);
    });
  }

  it("while Node holds, h5py's conflicting opens fail at once with errno 11, as between native programs", async function () {
    const file = s.file;
    const a = await s.start("process", { name: "A" });
    const w = await a.do({ cmd: "open", file, mode: "a" });
    expect(nativeHolders(file).map((h) => [h.pid, h.mode])).to.deep.equal([[a.pid, "exclusive"]]);
    for (const mode of ["r", "a"]) {
      const r = h5pyTry(file, mode);
      expect(r, mode).to.include({ ok: false, errno: 11 });
      expect(r.message).to.include("unable to lock file");
    }
    await a.do({ cmd: "close", index: w.index });
    const rd = await a.do({ cmd: "open", file, mode: "r" });
    expect(h5pyTry(file, "r")).to.deep.equal({ ok: true });
    expect(h5pyTry(file, "a")).to.include({ ok: false, errno: 11 });
    await a.do({ cmd: "close", index: rd.index });
    expect(h5pyTry(file, "a")).to.deep.equal({ ok: true });
  });

  it("h5-threadsafe status and inspect() list a native holder by command and pid", async function () {
    const py = await h5pyHold(s.file, "a");
    try {
      expect(inspect(s.file).native.map((h) => [h.command, h.pid, h.lock])).to.deep.equal([["python3", py.child.pid, "exclusive"]]);
      const r = spawnSync(process.execPath, [CLI, "status", s.file], { encoding: "utf8" });
      expect(r.status, "exit 3: held").to.equal(3);
      expect(r.stdout).to.include("1 native holder(s)").and.to.include(`exclusive (native flock) by python3 (pid ${py.child.pid})`);
    } finally {
      await py.release();
    }
  });

  it("h5-threadsafe run queues a native command behind a Node writer, and Node opens behind the command", async function () {
    const file = s.file;
    const flag = join(s.dir, "go");
    const script = [
      "import os, sys, time, h5py",
      "log, path, flag = sys.argv[1:4]",
      'f = h5py.File(path, "a")',
      'open(log, "a").write("cmd started\\n")',
      "while not os.path.exists(flag): time.sleep(0.005)",
      'f.create_dataset("from_cmd", data=[1]); f.close()',
      'open(log, "a").write("cmd ending\\n")',
    ].join("\n");
    const a = await s.start("thread", { name: "A" });
    const h = await a.do({ cmd: "open", file, mode: "a" });
    const run = spawn(process.execPath, [CLI, "run", `${file}:a`, "--", PYTHON, "-c", script, s.log, file, flag], { stdio: ["ignore", "inherit", "pipe"] });
    let runErr = "";
    run.stderr!.on("data", (d) => (runErr += d));
    const ran = new Promise<number | null>((resolve) => run.on("exit", resolve));
    await until(() => inspect(file).waiters.length === 1, 15_000, "the run to wait for A");
    await a.do({ cmd: "close", index: h.index });
    await until(() => s.order().includes("cmd started"), 15_000, "the command to start");
    const opening = a.do({ cmd: "open", file, mode: "r" });
    await until(() => inspect(file).waiters.length === 1, 15_000, "A to wait for the command");
    writeFileSync(flag, "");
    expect(await ran, runErr).to.equal(0);
    const r = await opening;
    await a.do({ cmd: "close", index: r.index });
    expect(s.order()).to.deep.equal(["A opened a", "A closing", "cmd started", "cmd ending", "A opened r", "A closing"]);
    expect(h5pyKeys(file)).to.include("from_cmd");
  });

  for (const [name, env] of [
    ["HDF5_USE_FILE_LOCKING=FALSE (HDF5's own switch)", { HDF5_USE_FILE_LOCKING: "FALSE" }],
    ["H5TS_NATIVE_LOCK=0", { H5TS_NATIVE_LOCK: "0" }],
  ] as const) {
    it(`${name} turns the layer off: Node takes no flock (and the record lock still works)`, async function () {
      const file = s.file;
      const a = await s.start("process", { name: "A", env });
      const w = await a.do({ cmd: "open", file, mode: "a" });
      expect(inspect(file).holders.map((h) => h.lock)).to.deep.equal(["exclusive"]);
      expect(nativeHolders(file).map((h) => h.pid), "no flock of the Node process in /proc/locks").to.not.include(a.pid);
      // h5py is still refused, by HDF5's own superblock flags (a writer has the file open), not by a flock.
      expect(h5pyTry(file, "r").message ?? "").to.not.include("unable to lock file");
      await a.do({ cmd: "close", index: w.index });
    });
  }
});
