// The mode rules on their own: the coexistence table of docs/architecture.md, joins, relaxations.
import { expect } from "chai";
import { LOCK_MODES, combine, compatible, covers, relaxes } from "../src/lock/modes.js";

describe("lock modes", function () {
  it("the coexistence table is docs/architecture.md's, and symmetric", function () {
    const table = Object.fromEntries(LOCK_MODES.map((h) => [h, LOCK_MODES.filter((w) => compatible(h, w))]));
    expect(table).to.deep.equal({
      shared: ["shared", "swmr-read"],
      "swmr-read": ["shared", "swmr-read", "swmr-write"],
      exclusive: [],
      "swmr-write": ["swmr-read"],
    });
    for (const a of LOCK_MODES) for (const b of LOCK_MODES) expect(compatible(a, b)).to.equal(compatible(b, a));
  });

  it("by what they refuse, the modes form a chain: swmr-read, shared, swmr-write, exclusive", function () {
    const chain = ["swmr-read", "shared", "swmr-write", "exclusive"] as const;
    for (let i = 0; i < chain.length; i++) {
      for (let j = 0; j < chain.length; j++) {
        expect(covers(chain[i], chain[j]), `${chain[i]} covers ${chain[j]}`).to.equal(i >= j);
        expect(combine([chain[i], chain[j]])).to.equal(chain[Math.max(i, j)]);
      }
    }
    // covers means: refuses everything the other refuses
    for (const a of LOCK_MODES) for (const b of LOCK_MODES) {
      const refusesAll = LOCK_MODES.every((o) => compatible(a, o) ? compatible(b, o) : true);
      expect(covers(a, b), `${a} covers ${b}`).to.equal(refusesAll);
    }
  });

  it("a thread's lock only ever relaxes: shared is no relaxation of swmr-read", function () {
    expect(relaxes("exclusive", "swmr-write")).to.equal(true);
    expect(relaxes("exclusive", "shared")).to.equal(true);
    expect(relaxes("swmr-write", "swmr-read")).to.equal(true);
    expect(relaxes("swmr-write", "shared")).to.equal(true);
    expect(relaxes("swmr-read", "shared")).to.equal(false);
    expect(relaxes("shared", "exclusive")).to.equal(false);
    expect(combine(["shared", "exclusive", "swmr-read"])).to.equal("exclusive");
    expect(combine(["shared", "swmr-read"]), "a plain reader beside a SWMR reader refuses SWMR writers").to.equal("shared");
    expect(combine([])).to.equal(undefined);
  });
});
