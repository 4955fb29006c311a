// Waking on change (src/lock/watch.ts): a waiter sleeping on its watch of the lock folder
// wakes when another record there changes, not at its next look; a change to its own
// record does not wake it. Sleeps are a minute long where only the change can end them
// in the test's time.

import { expect } from "chai";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { FolderWatch } from "../../src/lock/watch.js";
import { generation } from "../../src/lock/wake.js";
import { identity } from "../../src/lock/liveness.js";
import { processPart } from "../../src/lock/record.js";

const SLEEPER = new URL("../fixtures/watch-sleeper.js", import.meta.url);

describe("waking on change (inotify)", function () {
  this.timeout(20_000);
  let dir = "";
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "h5ts-watch-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  before(function () {
    const probe = FolderWatch.start([tmpdir()]);
    if (!probe) this.skip(); // not Linux, or koffi missing: waiters look at set times, as before
    probe.close();
  });

  it("a record changed by another thread wakes a sleeper at once (it would sleep a minute)", async function () {
    writeFileSync(join(dir, "theirs"), "");
    const w = new Worker(SLEEPER, { workerData: { dir, own: "mine" } });
    const next = () => new Promise<any>((resolve, reject) => (w.once("message", resolve), w.once("error", reject)));
    expect(await next()).to.deep.equal({ watching: true, complete: true });
    writeFileSync(join(dir, "theirs"), "0"); // another's record marked: a release
    expect((await next()).woke).to.equal(true);
    await w.terminate();
  });

  it("its own record's marks do not wake it; another's, already made, do at once", function () {
    const watch = FolderWatch.start([dir])!;
    try {
      for (let i = 0; i < 50; i++) writeFileSync(join(dir, "mine"), String(i % 2)); // its own marks, pending
      const t0 = performance.now();
      watch.sleep(generation(), 100, "mine");
      expect(performance.now() - t0, "slept its whole pause despite its own marks").to.be.at.least(99);
      writeFileSync(join(dir, "theirs"), "0");
      watch.sleep(generation(), 60_000, "mine"); // returns at once: the change is pending
    } finally {
      watch.close();
    }
  });

  it("the marks of this process's other waiting threads do not wake it (they wake each other at every look otherwise); another process's do", function () {
    // Three threads of one process waiting for a file that another process held used a whole
    // core between them (bench/waiting.ts): each one's marks woke the others' watches.
    const ours = `x,${processPart(identity())}99999,1,7,1,1`; // a record of another thread of this process
    const theirs = `x,${processPart({ ...identity(), pid: identity().pid + 1 })}99999,1,7,1,1`;
    const watch = FolderWatch.start([dir])!;
    try {
      for (let i = 0; i < 50; i++) writeFileSync(join(dir, ours), i % 2 ? "." : "-"); // its marks while it waits
      const t0 = performance.now();
      watch.sleep(generation(), 100, "mine", processPart(identity()));
      expect(performance.now() - t0, "slept its whole pause despite the marks of its own process").to.be.at.least(99);
      writeFileSync(join(dir, theirs), "0");
      watch.sleep(generation(), 60_000, "mine", processPart(identity())); // returns at once: another process's change is pending
    } finally {
      watch.close();
    }
  });

  it("a folder that is not there is not watched (the watch is incomplete: looks stay frequent)", function () {
    const watch = FolderWatch.start([dir, join(dir, "missing")])!;
    expect(watch.complete).to.equal(false);
    watch.close();
  });
});
