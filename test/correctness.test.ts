// Correct on every path around the protocol: the thread's lock never below what HDF5 has
// open, async and sync opens of one file in one thread, error paths, the explicit API's
// checks. Each case here once let two conflicting holders in (or deadlocked); the ordering
// log shows who got in when.

import { expect } from "chai";
import { chmodSync, existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { inspect, openFileAsync } from "../src/index.js";
import { until } from "./support/agent.js";
import { scenario } from "./support/scenario.js";
import { NOBODY, needNobody } from "./support/users.js";

const held = (file: string) => inspect(file).holders.map((h) => h.lock).sort();
const opened = (reply: { fileId: string }) => BigInt(reply.fileId) >= 0n;

describe("correct on every path", function () {
  const s = scenario("c.h5");

  it("a, r, close a: the lock stays exclusive while HDF5 still has the file open for writing", async function () {
    const file = s.file;
    const [a, b] = [await s.start("thread", { name: "A" }), await s.start("process", { name: "B" })];
    const w = await a.do({ cmd: "open", file, mode: "a" });
    const r = await a.do({ cmd: "open", file, mode: "r" });
    await a.do({ cmd: "close", index: w.index });
    expect(held(file)).to.deep.equal(["exclusive"]);
    const reading = b.do({ cmd: "open", file, mode: "r" });
    await until(() => inspect(file).waiters.length === 1, 15_000, "B to wait (not be admitted and refused by HDF5)");
    await a.do({ cmd: "close", index: r.index });
    expect(opened(await reading), "HDF5 refused a reader that the lock admitted").to.equal(true);
    expect(s.order()).to.deep.equal(["A opened a", "A opened r", "A closing", "A closing", "B opened r"]);
  });

  it("a thread that reuses its record without a look (nothing changed since its last one found nobody) still waits for a writer that came since", async function () {
    // The reuse marks its record and reads the folders' change events (lock/unchanged.ts);
    // the writer's record, made and marked meanwhile, must send it back to a full look.
    const file = s.file;
    const [a, b] = [await s.start("process", { name: "A" }), await s.start("process", { name: "B" })];
    const ready = join(s.dir, "ready");
    const go = join(s.dir, "go");
    const reopening = a.do({ cmd: "reuseThenOpen", file, mode: "a", times: 3, ready, go });
    await until(() => existsSync(ready), 15_000, "A to have reused its record");
    const w = await b.do({ cmd: "open", file, mode: "a" });
    writeFileSync(go, "");
    await until(() => inspect(file).waiters.length === 1, 15_000, "A to wait for B");
    await b.do({ cmd: "close", index: w.index });
    expect(opened(await reopening)).to.equal(true);
    expect(s.order()).to.deep.equal(["B opened a", "B closing", "A opened a"]);
  });

  it("a, r, Sr, close a: a SWMR writer elsewhere waits for every handle", async function () {
    const file = s.file;
    const [a, b] = [await s.start("thread", { name: "A" }), await s.start("process", { name: "B" })];
    const handles = [];
    for (const mode of ["a", "r", "Sr"]) handles.push(await a.do({ cmd: "open", file, mode }));
    await a.do({ cmd: "close", index: handles[0].index });
    const writing = b.do({ cmd: "open", file, mode: "Sa" });
    await until(() => inspect(file).waiters.length === 1, 15_000, "B's Sa to wait");
    await a.do({ cmd: "close", index: handles[1].index });
    await a.do({ cmd: "close", index: handles[2].index });
    expect(opened(await writing)).to.equal(true);
    expect(s.order().slice(-4)).to.deep.equal(["A closing", "A closing", "A closing", "B opened Sa"]);
  });

  it("Sr, then r in the same thread: r joins at once, as the SWMR reader HDF5 opens it as, beside a SWMR writer elsewhere", async function () {
    // All of a thread's handles of a file share the HDF5 file object of its first open:
    // here one opened for SWMR reading, so the r handle reads as a SWMR reader does.
    const file = s.file;
    const [a, b] = [await s.start("thread", { name: "A" }), await s.start("process", { name: "B" })];
    const sr = await a.do({ cmd: "open", file, mode: "Sr" });
    const sa = await b.do({ cmd: "open", file, mode: "Sa" });
    const r = await a.do({ cmd: "open", file, mode: "r" });
    expect(opened(r)).to.equal(true);
    expect(held(file)).to.deep.equal(["swmr-read", "swmr-write"]);
    await b.do({ cmd: "extend", index: sa.index, values: [4] });
    expect((await a.do({ cmd: "read", index: r.index, refresh: true })).values).to.deep.equal([1, 2, 3, 4]);
    await a.do({ cmd: "close", index: r.index });
    await a.do({ cmd: "close", index: sr.index });
    await b.do({ cmd: "close", index: sa.index });
  });

  it("openFileAsync r, then one microtask later new File a: the writer holds an exclusive lock", async function () {
    const file = s.file;
    const [a, b] = [await s.start("thread", { name: "A" }), await s.start("process", { name: "B" })];
    const both = await a.do({ cmd: "asyncThenSync", file, asyncMode: "r", syncMode: "a" });
    expect(opened(both.sync) && opened(both.async)).to.equal(true);
    expect(both.lockAfterSync).to.deep.equal(["exclusive"]);
    const reading = b.do({ cmd: "open", file, mode: "r" });
    await until(() => inspect(file).waiters.length === 1, 15_000, "B to wait for A's writer");
    await a.do({ cmd: "close", index: both.sync.index });
    await a.do({ cmd: "close", index: both.async.index });
    expect(opened(await reading)).to.equal(true);
    expect(s.order().slice(-3)).to.deep.equal(["A closing", "A closing", "B opened r"]);
  });

  /**
   * H holds a writer's lock; thread A's openFileAsync(r) waits for it, and process B's
   * writer queues behind A. Returns them, with A's pending open and B's open under way.
   */
  async function asyncReaderWithWriterBehind(file: string) {
    const [h, a, b] = [await s.start("process", { name: "H" }), await s.start("thread", { name: "A" }), await s.start("process", { name: "B" })];
    const w = await h.do({ cmd: "open", file, mode: "a" });
    const { pending } = await a.do({ cmd: "openAsync", file, mode: "r" });
    await until(() => inspect(file).waiters.length === 1, 15_000, "A's async open to wait");
    const writing = b.do({ cmd: "open", file, mode: "a" });
    await until(() => inspect(file).waiters.length === 2, 15_000, "B to queue behind A");
    return { h, a, w, pending, writing };
  }

  it("a synchronous open takes the place of its own thread's pending async open (no deadlock with a waiter behind it)", async function () {
    this.timeout(30_000);
    const file = s.file;
    const { h, a, w, pending, writing } = await asyncReaderWithWriterBehind(file);
    const syncOpen = a.do({ cmd: "open", file, mode: "r" }); // blocks A's thread
    await until(() => inspect(file).waiters.length === 2 && s.order().length === 1, 15_000, "A's sync open to be waiting");
    await h.do({ cmd: "close", index: w.index });
    const deadline = new Promise((_, reject) => setTimeout(() => reject(new Error("deadlock: A's open never returned")), 15_000));
    const r1 = (await Promise.race([syncOpen, deadline])) as { index: number; fileId: string };
    const r2 = await a.do({ cmd: "settle", pending });
    expect(opened(r1) && opened(r2)).to.equal(true);
    expect(held(file)).to.deep.equal(["shared"]);
    await a.do({ cmd: "close", index: r1.index });
    await a.do({ cmd: "close", index: r2.index });
    expect(opened(await writing)).to.equal(true);
    expect(s.order()).to.deep.equal(["H opened a", "H closing", "A opened r", "A opened r", "A closing", "A closing", "B opened a"]);
  });

  it("a synchronous open needing more than its thread's pending async open keeps that request's place in line", async function () {
    this.timeout(30_000);
    const file = s.file;
    const { h, a, w, pending, writing: bWriting } = await asyncReaderWithWriterBehind(file);
    // A's sync open wants a writer's lock: it takes the async request's place, ahead of B.
    const aWriting = a.do({ cmd: "open", file, mode: "a" });
    await until(() => inspect(file).waiters.some((x) => x.lock === "exclusive" && x.threadId !== 0), 15_000, "A's sync open to be waiting for an exclusive lock");
    await h.do({ cmd: "close", index: w.index });
    await until(() => s.order().length >= 3, 15_000, "the next holder to open"); // A logs its async open right after
    expect(s.order()[2], "the request that came first goes first").to.equal("A opened a");
    const aw = await aWriting;
    const ar = await a.do({ cmd: "settle", pending });
    await a.do({ cmd: "close", index: aw.index });
    await a.do({ cmd: "close", index: ar.index });
    expect(opened(await bWriting)).to.equal(true);
    expect(s.order().slice(3)).to.deep.equal(["A opened r", "A closing", "A closing", "B opened a"]);
  });

  it("an async open that joined while the thread's last handle closed gets a lock for the new file object HDF5 opens", async function () {
    // Sa, then Sr joins; Sa closes; openFileAsync(a) joins while Sr is open, then Sr closes
    // before the async open opens: HDF5 opens the file anew, for plain writing.
    const file = s.file;
    const [a, b] = [await s.start("thread", { name: "A" }), await s.start("process", { name: "B" })];
    const sa = await a.do({ cmd: "open", file, mode: "Sa" });
    const sr = await a.do({ cmd: "open", file, mode: "Sr" });
    await a.do({ cmd: "close", index: sa.index });
    const w = await a.do({ cmd: "asyncThenClose", file, mode: "a", index: sr.index });
    expect(opened(w)).to.equal(true);
    expect(held(file), "a plain writer's lock").to.deep.equal(["exclusive"]);
    const reading = b.do({ cmd: "open", file, mode: "Sr" });
    await until(() => inspect(file).waiters.length === 1, 15_000, "B's Sr to wait for the writer");
    await a.do({ cmd: "close", index: w.index });
    expect(opened(await reading)).to.equal(true);
    expect(s.order().slice(-2)).to.deep.equal(["A closing", "B opened Sr"]);
  });

  it("openFileAsync opens with Sa, as openFile does", async function () {
    const f = await openFileAsync(s.file, "Sa");
    expect(f.file_id >= 0n).to.equal(true);
    expect(held(s.file)).to.deep.equal(["swmr-write"]);
    f.close();
    expect(held(s.file)).to.deep.equal([]);
  });

  it("the explicit API checks the file under the lock: a holder rewriting it never makes openFile fail", async function () {
    const file = s.file;
    const [h, a] = [await s.start("process", { name: "H" }), await s.start("thread", { name: "A" })];
    const w = await h.do({ cmd: "open", file, mode: "a" });
    // What the holder may legitimately do while it holds the file: here, rewrite it from empty.
    const content = readFileSync(file);
    writeFileSync(file, "");
    const opening = a.send({ cmd: "open", via: "explicit", file, mode: "r" });
    await until(() => inspect(file).waiters.length === 1, 15_000, "A to wait (not to fail with ENOTHDF5)");
    writeFileSync(file, content);
    await h.do({ cmd: "close", index: w.index });
    const reply = await opening;
    expect(reply.ok, reply.error?.code).to.equal(true);
    expect(s.order()).to.deep.equal(["H opened a", "H closing", "A opened r"]);
  });

  describe("as another user", function () {
    before(function () {
      needNobody(this);
    });
    beforeEach(() => chmodSync(s.dir, 0o777)); // nobody's records live beside the file

    it("an error in the idle-record fast path gives the record back (writers are not blocked for good)", async function () {
      const file = s.file;
      chmodSync(file, 0o666);
      const r = await s.start("process", { name: "R", uid: NOBODY, gid: NOBODY });
      const first = await r.do({ cmd: "open", via: "explicit", file, mode: "r" });
      const lockDir = join(s.dir, ".c.h5.h5ts");
      chmodSync(lockDir, 0o300); // the reopen's look cannot list the folder: EACCES inside the fast path
      const again = await r.send({ cmd: "closeThenOpen", index: first.index, via: "explicit", file, mode: "r" });
      chmodSync(lockDir, 0o755);
      expect(again.ok, "the open failed as the folder could not be listed").to.equal(false);
      const w = await s.start("thread", { name: "W" });
      const writing = await w.send({ cmd: "open", via: "explicit", file, mode: "a", options: { timeoutMs: 5000 } });
      expect(writing.ok, `a writer was blocked by a record left holding: ${writing.error?.message}`).to.equal(true);
    });

    it("empty fallback folders go with the dead records in them", async function () {
      const file = s.file;
      chmodSync(s.dir, 0o755); // nobody cannot write beside the file: its record goes to the fallback
      const r = await s.start("process", { name: "R", uid: NOBODY, gid: NOBODY });
      await r.do({ cmd: "open", file, mode: "r" });
      const fallback = inspect(file).dirs[1];
      expect(readdirSync(fallback)).to.have.length(1);
      await r.kill("SIGKILL");
      const w = await s.start("thread", { name: "W" });
      const h = await w.do({ cmd: "open", file, mode: "a" });
      expect(existsSync(fallback), "the fallback folder was left behind").to.equal(false);
      await w.do({ cmd: "close", index: h.index });
    });
  });
});
