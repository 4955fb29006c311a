// The record format both ways: names and state bytes; parsing never throws.

import { expect } from "chai";
import { LOCK_MODES } from "../../src/lock/modes.js";
import { STATE_BYTES, earlier, identityPart, modeOfName, parseRecord, recordName, stateOfContent, type RecordState } from "../../src/lock/record.js";

const WHO = { host: "node 7,a%b", boot: "9f3a", pidns: "4026531836", pid: 4121, pidStart: "99", tid: 4140, tidStart: "120", threadId: 3 };

describe("record format", function () {
  it("a name says who asked for which mode when, and parses back", function () {
    for (const mode of LOCK_MODES) {
      const name = recordName(identityPart(WHO), mode, 1234567);
      const r = parseRecord(name, "/lock")!;
      expect(r).to.include({ ...WHO, mode, since: 1234567, dir: "/lock", name });
      expect(modeOfName(name)).to.equal(mode);
    }
  });

  it("every state has one byte, and the byte reads back as the state", function () {
    const states: RecordState[] = ["waiting", "deferring", "free", ...LOCK_MODES];
    const bytes = new Set(states.map((s) => STATE_BYTES[s].toString("latin1")));
    expect(bytes.size).to.equal(states.length);
    for (const s of states) expect(stateOfContent(STATE_BYTES[s].toString("latin1"))).to.equal(s);
    expect(stateOfContent(""), "a record just created").to.equal("waiting");
    expect(stateOfContent("?")).to.equal(undefined);
  });

  it("names it did not make parse to undefined, never throw", function () {
    const good = recordName(identityPart(WHO), "shared", 1);
    const fields = good.split(",");
    const withField = (i: number, v: string) => fields.map((f, j) => (j === i ? v : f)).join(",");
    const bad = [
      "", ".", "x", "s,", good.replace(/^s/, "q"), good + ",1", "ss" + good.slice(1),
      withField(1, "%E0%A4%A"), // a bad escape in the host
      withField(5, "soon"), // a start time that is no number
      withField(4, "-1"), withField(9, "1e400"), withField(9, "9".repeat(30)), // numbers out of range
      withField(2, "x".repeat(100)), // an id far too long
    ];
    for (const bad1 of bad) {
      const bad = bad1;
      expect(() => parseRecord(bad), bad).to.not.throw();
      expect(parseRecord(bad), bad).to.equal(undefined);
    }
    expect(parseRecord(good), "the good name itself").to.not.equal(undefined);
  });

  it("orders requests by when they began, then by name", function () {
    const a = parseRecord(recordName(identityPart(WHO), "shared", 5))!;
    const b = parseRecord(recordName(identityPart(WHO), "shared", 6))!;
    const c = parseRecord(recordName(identityPart(WHO), "shared", 6))!;
    expect(earlier(a, b)).to.equal(true);
    expect(earlier(b, a)).to.equal(false);
    expect(earlier(b, c) !== earlier(c, b)).to.equal(true);
  });
});
