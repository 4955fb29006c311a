// Two names for one file. A symlink leads to the same canonical path, so to the same lock
// (tested in api.test.ts). A hard link is another path: its lock records are another
// folder's; what makes two writers through two hard links wait for each other is the
// data file's flock (src/native/flock.ts), which belongs to the inode. Without it (koffi
// missing, or turned off) they do not: the README says so.

import { expect } from "chai";
import { linkSync } from "node:fs";
import { join } from "node:path";
import { inspect } from "../src/index.js";
import { nativeLocking } from "../src/native/flock.js";
import { until } from "./support/agent.js";
import { scenario } from "./support/scenario.js";

describe("hard links", function () {
  const s = scenario("inode.h5");

  it("writers through two hard links of one file take turns (the inode's flock), and do not without it", async function () {
    if (!nativeLocking().enabled) this.skip(); // the layer is off here: nothing to show
    const file = s.file;
    const link = join(s.dir, "other-name.h5");
    linkSync(file, link);
    for (const native of [true, false]) {
      const env = native ? {} : { H5TS_NATIVE_LOCK: "0" };
      const [a, b] = [await s.start("process", { name: "A", env }), await s.start("process", { name: "B", env })];
      const before = s.order().length;
      const h = await a.do({ cmd: "open", file, mode: "a" });
      const opening = b.do({ cmd: "open", file: link, mode: "a" });
      if (native) {
        // B holds its record lock on the link's name, and waits at the data file's flock.
        await until(() => inspect(link).holders.length === 1, 15_000, "B's record on the other name");
        await until(() => s.order().length === before + 1 && inspect(file).holders.length === 1, 15_000, "A alone to have opened");
      } else await opening;
      await a.do({ cmd: "close", index: h.index });
      const hb = await opening;
      await b.do({ cmd: "close", index: hb.index });
      const order = s.order().slice(before);
      if (native) expect(order, "with the flock").to.deep.equal(["A opened a", "A closing", "B opened a", "B closing"]);
      else expect(order.slice(0, 2), "without the flock: both in at once").to.deep.equal(["A opened a", "B opened a"]);
      await a.exit();
      await b.exit();
    }
  });
});
