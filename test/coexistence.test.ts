// The whole coexistence table, across threads and across processes: a holder holds mode
// A; a contender asks for B and either gets it while the holder still holds A, or is seen
// waiting (its waiter record is on disk) and gets it only after the holder closes.

import { expect } from "chai";
import { join } from "node:path";
import { inspect } from "../src/index.js";
import { Agent, settled, until, type Where } from "./support/agent.js";
import { makeH5, tempDir } from "./support/files.js";

const MODES = ["r", "Sr", "a", "Sa"] as const;
const LOCK = { r: "shared", Sr: "swmr-read", a: "exclusive", Sa: "swmr-write" } as const;

// held -> wanted, per DESIGN.md
const COEXIST: Record<string, readonly string[]> = {
  r: ["r", "Sr"],
  Sr: ["r", "Sr", "Sa"],
  a: [],
  Sa: ["Sr"],
};

for (const where of ["thread", "process"] as Where[]) {
  describe(`coexistence table across ${where === "thread" ? "worker threads" : "processes"}`, function () {
    let holder: Agent;
    let contender: Agent;
    let tmp: ReturnType<typeof tempDir>;
    let file: string;

    before(async function () {
      tmp = tempDir();
      file = join(tmp.dir, "table.h5");
      await makeH5(file);
      holder = new Agent(where);
      contender = new Agent(where);
      await Promise.all([holder.ready(), contender.ready()]);
    });
    after(async function () {
      await Promise.all([holder?.stop(), contender?.stop()]);
      tmp?.cleanup();
    });

    for (const held of MODES) {
      for (const wanted of MODES) {
        const together = COEXIST[held].includes(wanted);
        it(`${held} held, ${wanted} wanted: ${together ? "granted at once" : "waits for the close"}`, async function () {
          const h = await holder.do({ cmd: "open", file, mode: held });
          expect(inspect(file).holders.map((x) => x.mode)).to.deep.equal([LOCK[held]]);
          const opening = contender.do({ cmd: "open", file, mode: wanted });
          if (together) {
            const c = await opening;
            expect(inspect(file).holders.map((x) => x.mode).sort()).to.deep.equal([LOCK[held], LOCK[wanted]].sort());
            await contender.do({ cmd: "close", index: c.index });
            await holder.do({ cmd: "close", index: h.index });
          } else {
            await until(() => inspect(file).waiters.length === 1, 15_000, "the contender's waiter record");
            expect(inspect(file).waiters[0].mode).to.equal(LOCK[wanted]);
            expect(await settled(opening), "contender opened while the holder held").to.equal(false);
            await holder.do({ cmd: "close", index: h.index });
            const c = await opening;
            expect(inspect(file).holders.map((x) => x.mode)).to.deep.equal([LOCK[wanted]]);
            expect(inspect(file).waiters).to.deep.equal([]);
            await contender.do({ cmd: "close", index: c.index });
          }
          expect(inspect(file).holders).to.deep.equal([]);
        });
      }
    }
  });
}
