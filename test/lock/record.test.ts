// The record format both ways: names and state bytes; parsing never throws.

import { expect } from "chai";
import { LOCK_MODES } from "../../src/lock/modes.js";
import { STATE_BYTES, earlier, identityPart, modeOfName, parseRecord, recordName, stateOfContent, type RecordState } from "../../src/lock/record.js";

const WHO = { host: "node 7,a%b", pid: 4121, pidStart: "99", tid: 4140, tidStart: "120", threadId: 3 };

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
    for (const bad of ["", ".", "x", "s,", good.replace(/^s/, "q"), good + ",1", "s,%E0%A4%A,1,1,1,1,1,1,1", "ss" + good.slice(1)]) {
      expect(() => parseRecord(bad), bad).to.not.throw();
      expect(parseRecord(bad), bad).to.equal(undefined);
    }
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
