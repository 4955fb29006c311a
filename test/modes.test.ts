// The mode rules on their own: the coexistence table of docs/architecture.md, joins, relaxations.
import { expect } from "chai";
import { LOCK_MODES, combine, compatible, joinable, relaxes } from "../src/lock/modes.js";

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

  it("an exclusive lock covers every reopen; Sr joins swmr-write; r joins Sr; writers never join readers", function () {
    for (const m of LOCK_MODES) expect(joinable("exclusive", m)).to.equal(true);
    expect(joinable("swmr-write", "swmr-read")).to.equal(true);
    expect(joinable("swmr-read", "shared")).to.equal(true);
    expect(joinable("swmr-write", "shared")).to.equal(false);
    expect(joinable("shared", "exclusive")).to.equal(false);
    expect(joinable("swmr-read", "swmr-write")).to.equal(false);
  });

  it("a thread's lock only ever relaxes: shared is no relaxation of swmr-read", function () {
    expect(relaxes("exclusive", "swmr-write")).to.equal(true);
    expect(relaxes("exclusive", "shared")).to.equal(true);
    expect(relaxes("swmr-write", "swmr-read")).to.equal(true);
    expect(relaxes("swmr-write", "shared")).to.equal(true);
    expect(relaxes("swmr-read", "shared")).to.equal(false);
    expect(relaxes("shared", "exclusive")).to.equal(false);
    expect(combine(["shared", "exclusive", "swmr-read"])).to.equal("exclusive");
    expect(combine([])).to.equal(undefined);
  });
});
