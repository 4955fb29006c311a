// The protocol's decision as a table: every record state × asked mode × wanted mode ×
// order × liveness, for each thing the request's own record may show. The expectations are
// written from the rules in docs/architecture.md ("The record protocol"), case by case.

import { expect } from "chai";
import { LOCK_MODES, compatible, type LockMode } from "../../src/lock/modes.js";
import { BARGE_US, decide, judge, mayMatter, stillAhead, type Request, type Seen } from "../../src/lock/protocol.js";
import { identityPart, parseRecord, recordName, type LockRecord, type RecordState } from "../../src/lock/record.js";

const T0 = 1_700_000_000_000_000; // µs
const ME = { host: "h", boot: "b1", pidns: "4026531836", pid: 10, pidStart: "100", tid: 11, tidStart: "101", threadId: 0 };
const OTHER = { host: "h", boot: "b1", pidns: "4026531836", pid: 20, pidStart: "200", tid: 21, tidStart: "201", threadId: 1 };

function record(who: typeof ME, mode: LockMode, since: number): LockRecord {
  return parseRecord(recordName(identityPart(who), mode, since), "/d")!;
}

const STATES: (RecordState | undefined)[] = [undefined, "free", "waiting", "deferring", ...LOCK_MODES];
const SHOWS = ["deferring", "waiting", "reused"] as const;

type Expected = "ignore" | "reap" | "holder" | "earlier waiter" | "later waiter";

/** The rules, as the architecture document states them. */
function expected(wanted: LockMode, shows: (typeof SHOWS)[number], asked: LockMode, state: RecordState | undefined, isEarlier: boolean, young: boolean, alive: boolean): Expected {
  if (state === undefined) return "ignore"; // gone meanwhile
  if (state === "free") return alive ? "ignore" : "reap"; // idle: in nobody's way; a dead thread's is removed
  if (state === "waiting" || state === "deferring") {
    if (compatible(asked, wanted)) return "ignore";
    // a later waiter standing back looks again before it takes; only a reused record may not pass an old one
    if (state === "deferring" && !isEarlier && (shows !== "reused" || young)) return "ignore";
    if (!alive) return "reap";
    return isEarlier ? "earlier waiter" : "later waiter";
  }
  if (compatible(state, wanted)) return "ignore"; // holds (or relaxed to) a mode beside ours
  return alive ? "holder" : "reap";
}

describe("lock protocol: judge, one record at a time", function () {
  let cases = 0;
  for (const wanted of LOCK_MODES) {
    for (const shows of SHOWS) {
      it(`a request for ${wanted} whose record shows ${shows}`, function () {
        for (const asked of LOCK_MODES) {
          for (const state of STATES) {
            if (state !== undefined && LOCK_MODES.includes(state as LockMode) && state !== asked && !(asked === "exclusive" && state === "swmr-write")) continue; // a record holds what it asked for, or less (a / w -> start_swmr_write)
            for (const isEarlier of [true, false]) {
              for (const young of [true, false]) {
                for (const alive of [true, false]) {
                  const own = record(ME, wanted, T0);
                  const since = isEarlier ? T0 - 1 : T0 + 1;
                  const now = young ? since + BARGE_US - 1 : since + BARGE_US + 1;
                  const req: Request = { own, shows: shows === "reused" ? wanted : shows, now };
                  const other = record(OTHER, asked, since);
                  const got = judge(req, { record: other, state, alive });
                  const want = expected(wanted, shows, asked, state, isEarlier, young, alive);
                  const gotName = typeof got === "string" ? got : got.waiting ? (got.earlierWaiter ? "earlier waiter" : "later waiter") : "holder";
                  expect(gotName, `wanted ${wanted}, shows ${shows}, other asked ${asked} is ${state} (${isEarlier ? "earlier" : "later"}, ${young ? "young" : "old"}, ${alive ? "alive" : "dead"})`).to.equal(want);
                  if (typeof got !== "string") expect(got.mode).to.equal(state === "waiting" || state === "deferring" ? asked : state);
                  cases++;
                }
              }
            }
          }
        }
      });
    }
  }
  after(function () {
    expect(cases).to.be.greaterThan(1000);
  });

  it("never waits for the requesting thread's own records", function () {
    const own = record(ME, "exclusive", T0);
    for (const state of STATES) {
      const mine = record(ME, "exclusive", T0 - 5);
      expect(judge({ own, shows: "waiting", now: T0 }, { record: mine, state, alive: true })).to.equal("ignore");
    }
    expect(mayMatter(own.name, "exclusive", identityPart(ME))).to.equal(false);
    expect(mayMatter(record(OTHER, "exclusive", T0).name, "exclusive", identityPart(ME))).to.equal(true);
    expect(mayMatter(record(OTHER, "shared", T0).name, "shared", identityPart(ME)), "compatible by name").to.equal(false);
    expect(mayMatter("not-a-record", "shared", identityPart(ME))).to.equal(false);
  });
});

describe("lock protocol: decide", function () {
  const own = (mode: LockMode) => record(ME, mode, T0);
  const seen = (mode: LockMode, state: RecordState, since: number, alive = true): Seen => ({ record: record(OTHER, mode, since), state, alive });

  it("with nothing in the way: a deferring record looks first, a waiting one takes, a reused one takes", function () {
    for (const wanted of LOCK_MODES) {
      expect(decide({ own: own(wanted), shows: "deferring", now: T0 }, []).action).to.equal("look");
      expect(decide({ own: own(wanted), shows: "waiting", now: T0 }, []).action).to.equal("take");
      expect(decide({ own: own(wanted), shows: wanted, now: T0 }, []).action).to.equal("take");
    }
  });

  it("stands back behind an earlier conflicting waiter, whatever it shows", function () {
    for (const shows of ["deferring", "waiting", "exclusive"] as const) {
      const v = decide({ own: own("exclusive"), shows, now: T0 }, [seen("shared", "waiting", T0 - 10)]);
      expect(v.action, shows).to.equal("stand-back");
      expect(v.blockers.map((b) => b.earlierWaiter)).to.deep.equal([true]);
    }
  });

  it("waits for a holder, and for a later waiter that may be about to take", function () {
    expect(decide({ own: own("shared"), shows: "waiting", now: T0 }, [seen("exclusive", "exclusive", T0 - 10)]).action).to.equal("wait");
    expect(decide({ own: own("shared"), shows: "waiting", now: T0 }, [seen("exclusive", "waiting", T0 + 10)]).action).to.equal("wait");
  });

  it("reaps the dead it meets, and is not held up by them", function () {
    const v = decide({ own: own("exclusive"), shows: "waiting", now: T0 }, [seen("exclusive", "exclusive", T0 - 10, false), seen("shared", "free", T0 - 20, false)]);
    expect(v.action).to.equal("take");
    expect(v.reap).to.have.length(2);
  });

  it("safety: of two live conflicting requests, one that looks never takes while the other shows waiting or holds", function () {
    for (const a of LOCK_MODES) {
      for (const b of LOCK_MODES) {
        if (compatible(a, b)) continue;
        for (const bState of ["waiting", b] as RecordState[]) {
          for (const order of [-1, 1]) {
            for (const shows of ["waiting", "reused"] as const) {
              const v = decide({ own: own(a), shows: shows === "reused" ? a : "waiting", now: T0 + 10 * BARGE_US }, [seen(b, bState, T0 + order)]);
              expect(v.action, `${a} (${shows}) beside ${b} showing ${bState}`).to.not.equal("take");
            }
          }
        }
      }
    }
  });

  it("a waiter stood back for is ahead while it waits, stands back, or holds a conflicting mode", function () {
    expect(stillAhead("exclusive", "waiting")).to.equal(true);
    expect(stillAhead("exclusive", "deferring")).to.equal(true);
    expect(stillAhead("exclusive", "shared")).to.equal(true);
    expect(stillAhead("shared", "swmr-read")).to.equal(false);
    expect(stillAhead("shared", "free")).to.equal(false);
    expect(stillAhead("shared", undefined)).to.equal(false);
  });
});
