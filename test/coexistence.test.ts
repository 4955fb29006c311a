// The whole coexistence table, across threads and across processes: a holder holds mode
// A; a contender asks for B and either gets it while the holder still holds A, or is seen
// waiting (its record on disk says so) and gets it only after the holder began to close
// (the ordering log says so). The table is docs/architecture.md's.

import { expect } from "chai";
import { inspect } from "../src/index.js";
import { until, type Where } from "./support/agent.js";
import { scenario } from "./support/scenario.js";

const MODES = ["r", "Sr", "a", "Sa"] as const;
const LOCK = { r: "shared", Sr: "swmr-read", a: "exclusive", Sa: "swmr-write" } as const;

// held -> wanted
const COEXIST: Record<string, readonly string[]> = {
  r: ["r", "Sr"],
  Sr: ["r", "Sr", "Sa"],
  a: [],
  Sa: ["Sr"],
};

for (const where of ["thread", "process"] as Where[]) {
  describe(`coexistence table across ${where === "thread" ? "worker threads" : "processes"}`, function () {
    const s = scenario("table.h5");

    for (const held of MODES) {
      for (const wanted of MODES) {
        const together = COEXIST[held].includes(wanted);
        it(`${held} held, ${wanted} wanted: ${together ? "granted at once" : "waits for the close"}`, async function () {
          const file = s.file;
          const [holder, contender] = await Promise.all([s.start(where, { name: "holder" }), s.start(where, { name: "contender" })]);
          const h = await holder.do({ cmd: "open", file, mode: held });
          expect(inspect(file).holders.map((x) => x.lock)).to.deep.equal([LOCK[held]]);
          const opening = contender.do({ cmd: "open", file, mode: wanted });
          if (together) {
            const c = await opening;
            expect(inspect(file).holders.map((x) => x.lock).sort()).to.deep.equal([LOCK[held], LOCK[wanted]].sort());
            await contender.do({ cmd: "close", index: c.index });
            await holder.do({ cmd: "close", index: h.index });
            expect(s.order()).to.deep.equal([`holder opened ${held}`, `contender opened ${wanted}`, "contender closing", "holder closing"]);
          } else {
            await until(() => inspect(file).waiters.length === 1, 15_000, "the contender's waiter record");
            expect(inspect(file).waiters[0].lock).to.equal(LOCK[wanted]);
            await holder.do({ cmd: "close", index: h.index });
            const c = await opening;
            expect(s.order(), "the contender opened only after the holder began to close").to.deep.equal([`holder opened ${held}`, "holder closing", `contender opened ${wanted}`]);
            expect(inspect(file).holders.map((x) => x.lock)).to.deep.equal([LOCK[wanted]]);
            expect(inspect(file).waiters).to.deep.equal([]);
            await contender.do({ cmd: "close", index: c.index });
          }
          expect(inspect(file).holders).to.deep.equal([]);
        });
      }
    }
  });
}
