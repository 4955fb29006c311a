// Two names for one file. A symlink leads to the same canonical path, so to the same lock
// (tested in api.test.ts). A hard link is another path to the same inode: a file with
// several links is locked by its inode (lock/folders.ts lockDirsFor), so writers through
// two names take turns by their records, and by the data file's flock (which belongs to
// the inode) where the native layer is on. One thread opening two names of one file holds
// one lock for both, as HDF5 sees one file (registry.ts #byName).

import { expect } from "chai";
import { existsSync, linkSync, mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import h5wasm from "h5wasm/node";
import { inspect, openFile } from "../src/index.js";
import { nativeLocking } from "../src/native/flock.js";
import { until } from "./support/agent.js";
import { tempDir } from "./support/files.js";
import { scenario } from "./support/scenario.js";

describe("hard links", function () {
  const s = scenario("inode.h5");

  for (const native of [true, false]) {
    it(`writers through two hard links of one file take turns, ${native ? "with" : "without"} the data file's flock`, async function () {
      if (native && !nativeLocking().enabled) this.skip(); // the layer is off here: nothing to show
      const file = s.file;
      const link = join(s.dir, "other-name.h5");
      linkSync(file, link);
      const env = native ? {} : { H5TS_NATIVE_LOCK: "0" };
      const [a, b] = [await s.start("process", { name: "A", env }), await s.start("process", { name: "B", env })];
      const h = await a.do({ cmd: "open", file, mode: "a" });
      const opening = b.do({ cmd: "open", file: link, mode: "a" });
      // B's request stands in line, seen through either name (one inode, one lock).
      await until(() => inspect(link).waiters.length === 1 && inspect(file).waiters.length === 1, 15_000, "B waiting, seen by both names");
      expect(inspect(link).holders.map((x) => x.lock)).to.deep.equal(["exclusive"]);
      await a.do({ cmd: "close", index: h.index });
      const hb = await opening;
      await b.do({ cmd: "close", index: hb.index });
      expect(s.order()).to.deep.equal(["A opened a", "A closing", "B opened a", "B closing"]);
    });
  }

  it("one thread opening two names of one file does not wait for itself: HDF5 decides, as without the patch", async function () {
    const link = join(s.dir, "other-name.h5");
    linkSync(s.file, link);
    // A wait for itself would end with ELOCKTIMEOUT after 3 s; before the fix it did.
    const outcomes = async (patch: boolean) => {
      const agent = await s.start("thread", { name: patch ? "P" : "B", patch, env: { H5TS_TIMEOUT_MS: "3000" } });
      const out: string[] = [];
      for (const [m1, m2] of [["a", "r"], ["r", "r"], ["r", "a"], ["a", "a"]]) {
        const first = await agent.do({ cmd: "open", file: s.file, mode: m1 });
        const second = await agent.send({ cmd: "open", file: link, mode: m2 });
        out.push(`${m1} then ${m2}: ${second.ok ? (BigInt(second.value.fileId) >= 0n ? "opened" : "file_id -1") : `${second.error?.code ?? ""} ${second.error?.message}`}`);
        if (second.ok) await agent.do({ cmd: "close", index: second.value.index });
        await agent.do({ cmd: "close", index: first.index });
      }
      return out;
    };
    const bare = await outcomes(false);
    expect(bare, "bare h5wasm: HDF5 sees one file").to.include("a then r: opened");
    expect(await outcomes(true)).to.deep.equal(bare);
  });
});

describe("names that go up through a symlink, go through a file, or change while open", function () {
  let tmp: ReturnType<typeof tempDir>;
  before(async () => {
    await h5wasm.ready;
  });
  beforeEach(() => (tmp = tempDir()));
  afterEach(() => tmp.cleanup());

  it("\"latest/../new.h5\" names what the kernel says: w creates it there, and never locks, truncates or lends another file", function () {
    // path.resolve removed "latest/.." as text: the lock named ./new.h5, and a `w` opened an
    // unrelated file of that name there, lent it to HDF5 and truncated it to 0 bytes, while
    // the create the user asked for failed.
    const base = tmp.dir;
    mkdirSync(join(base, "project", "run1"), { recursive: true });
    symlinkSync(join(base, "project", "run1"), join(base, "latest"));
    const unrelated = join(base, "summary.h5");
    writeFileSync(unrelated, "not to be touched");
    const f = openFile(`${base}/latest/../summary.h5`, "w");
    f.create_dataset({ name: "d", data: new Float64Array([1]) });
    f.close();
    expect(readFileSync(unrelated, "utf8")).to.equal("not to be touched");
    expect(existsSync(join(base, "project", "summary.h5")), "made where the kernel resolves the name").to.equal(true);
    // A folder that does not exist on the way: h5wasm fails as it always did, nothing is touched.
    let error: unknown;
    try {
      openFile(`${base}/missing/../summary.h5`, "w").close();
    } catch (e) {
      error = e;
    }
    expect(error, "the open fails").to.be.instanceOf(Error);
    expect(readFileSync(unrelated, "utf8")).to.equal("not to be touched");
  });

  it("a path through a regular file (\"data.h5/inner.h5\"): h5wasm fails as it always did, and the patch says nothing (it warned H5TS_UNLOCKED)", function () {
    const data = join(tmp.dir, "data.h5");
    writeFileSync(data, "");
    const script = join(tmp.dir, "through.mjs");
    writeFileSync(
      script,
      [
        `import h5wasm from ${JSON.stringify(import.meta.resolve("h5wasm/node"))};`,
        `await h5wasm.ready;`,
        `console.log(String(new h5wasm.File(${JSON.stringify(join(data, "inner.h5"))}, "r").file_id));`,
      ].join("\n"),
    );
    const REGISTER = fileURLToPath(new URL("../src/register.js", import.meta.url));
    const bare = spawnSync(process.execPath, [script], { encoding: "utf8" });
    const patched = spawnSync(process.execPath, ["--import", REGISTER, script], { encoding: "utf8" });
    expect(patched.stdout).to.equal(bare.stdout).and.equal("-1\n");
    expect(patched.stderr).to.equal(bare.stderr);
  });

  it("a file renamed while open, opened again by its new name in the same thread joins the open lock (it waited for its own flock, for ever)", function () {
    const draft = join(tmp.dir, "draft.h5");
    const final = join(tmp.dir, "final.h5");
    const w = openFile(draft, "w");
    w.create_dataset({ name: "d", data: new Float64Array([1, 2, 3]) });
    renameSync(draft, final);
    const r = openFile(final, "r", { timeoutMs: 5000 }); // without the fix: LockTimeoutError after 5 s
    expect(r.keys()).to.deep.equal(["d"]);
    r.close();
    w.close();
    expect(inspect(final).holders).to.deep.equal([]);
  });
});
