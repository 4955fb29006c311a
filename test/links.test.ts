// Two names for one file. A symlink leads to the same canonical path, so to the same lock
// (tested in api.test.ts). A hard link is another path to the same inode: a file with
// several links is locked by its inode (lock/folders.ts lockDirsFor), so writers through
// two names take turns by their records, and by the data file's flock (which belongs to
// the inode) where the native layer is on. One thread opening two names of one file holds
// one lock for both, as HDF5 sees one file (registry.ts #byName).

import { expect } from "chai";
import { linkSync } from "node:fs";
import { join } from "node:path";
import { inspect } from "../src/index.js";
import { nativeLocking } from "../src/native/flock.js";
import { until } from "./support/agent.js";
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
