// Waking on change (src/lock/watch.ts): a waiter sleeping on its watch of the lock folder
// wakes when a record that was in its way changes, not at its next look; changes to other
// records (its own, other waiters') do not wake it. Sleeps are a minute long where only the change can end them
// in the test's time.

import { expect } from "chai";
import { closeSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { FolderWatch } from "../../src/lock/watch.js";
import { generation } from "../../src/lock/wake.js";
import { identity } from "../../src/lock/liveness.js";
import { processPart } from "../../src/lock/record.js";

const SLEEPER = new URL("../fixtures/watch-sleeper.js", import.meta.url);
/** Every record but the sleeper's own ("mine") is in its way. */
const notMine = (name: string) => name !== "mine";

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
    const w = new Worker(SLEEPER, { workerData: { dir, inTheWay: "theirs" } });
    const next = () => new Promise<any>((resolve, reject) => (w.once("message", resolve), w.once("error", reject)));
    expect(await next()).to.deep.equal({ watching: true, complete: true });
    writeFileSync(join(dir, "theirs"), "0"); // another's record marked: a release
    expect((await next()).woke).to.equal(true);
    await w.terminate();
  });

  it("its own record's marks do not wake it; those of one in its way, already made, do at once", function () {
    const watch = FolderWatch.start([dir])!;
    try {
      for (let i = 0; i < 50; i++) writeFileSync(join(dir, "mine"), String(i % 2)); // its own marks, pending
      const t0 = performance.now();
      watch.sleep(generation(), 100, notMine);
      expect(performance.now() - t0, "slept its whole pause despite its own marks").to.be.at.least(99);
      writeFileSync(join(dir, "theirs"), "0");
      watch.sleep(generation(), 60_000, notMine); // returns at once: the change is pending
    } finally {
      watch.close();
    }
  });

  it("the marks of other waiters, of this process or another, do not wake it (waiters' looks woke each other, and each other back, at every look); those of a record in its way do", function () {
    // Three threads of one process waiting for a file that another process held used a whole
    // core between them (bench/waiting.ts): each one's marks woke the others' watches. Waiting
    // processes did the same to each other (a third of a core each).
    const ourWaiter = `x,${processPart(identity())}99999,1,7,1,1`; // another thread of this process, waiting
    const theirWaiter = `x,${processPart({ ...identity(), pid: identity().pid + 1 })}99999,1,7,1,1`;
    const holder = `x,${processPart({ ...identity(), pid: identity().pid + 2 })}99999,1,7,1,1`;
    const inTheWay = (name: string) => name === holder;
    const watch = FolderWatch.start([dir])!;
    try {
      for (let i = 0; i < 50; i++) for (const r of [ourWaiter, theirWaiter, "mine"]) writeFileSync(join(dir, r), i % 2 ? "." : "-"); // their marks at each look
      const t0 = performance.now();
      watch.sleep(generation(), 100, inTheWay);
      expect(performance.now() - t0, "slept its whole pause despite the other waiters' marks").to.be.at.least(99);
      writeFileSync(join(dir, holder), "0"); // the holder lets go
      watch.sleep(generation(), 60_000, inTheWay); // returns at once
    } finally {
      watch.close();
    }
  });

  it("a folder that is not there yet is awaited through its parent (the fallback folder, most often): made, it wakes the sleeper and is watched; other names made beside do not wake it", function () {
    // Before: the watch was incomplete wherever the fallback folder did not exist, so a
    // single waiter looked every 2 ms instead of 20 (bench/waiting.ts: 18 % of a core).
    const lockDir = join(dir, ".f.h5.h5ts");
    const watch = FolderWatch.start([lockDir])!;
    try {
      expect(watch.complete).to.equal(true);
      writeFileSync(join(dir, "other.h5"), "x"); // another file made beside it
      mkdirSync(join(dir, ".other.h5.h5ts")); // another file's lock folder
      const t0 = performance.now();
      watch.sleep(generation(), 100, notMine);
      expect(performance.now() - t0, "slept its whole pause despite other names made beside").to.be.at.least(99);
      mkdirSync(join(dir, "tmp-name"));
      renameSync(join(dir, "tmp-name"), lockDir); // made as folders.ts makes lock folders
      watch.sleep(generation(), 60_000, notMine); // returns at once
      closeSync(openSync(join(lockDir, "theirs"), "w")); // a new record lets nobody in
      const t1 = performance.now();
      watch.sleep(generation(), 100, notMine);
      expect(performance.now() - t1, "a new record woke it").to.be.at.least(99);
      writeFileSync(join(lockDir, "theirs"), "0"); // marked: watched now
      watch.sleep(generation(), 60_000, notMine); // returns at once
    } finally {
      watch.close();
    }
  });

  it("a folder two levels down from what exists (the fallback root missing too) is awaited; one removed and made again is watched again", function () {
    const lockDir = join(dir, "root", "hash-f.h5.h5ts");
    const watch = FolderWatch.start([lockDir])!;
    try {
      expect(watch.complete).to.equal(true);
      mkdirSync(join(dir, "root")); // no news yet: nothing can be in the folder before it is made
      const t0 = performance.now();
      watch.sleep(generation(), 100, notMine);
      expect(performance.now() - t0, "woken by the root alone").to.be.at.least(99);
      mkdirSync(lockDir);
      watch.sleep(generation(), 60_000, notMine);
      rmSync(lockDir, { recursive: true }); // its last record gone, the folder is removed
      watch.sleep(generation(), 60_000, notMine);
      mkdirSync(lockDir); // made again by the next user
      watch.sleep(generation(), 60_000, notMine);
      writeFileSync(join(lockDir, "theirs"), "0");
      watch.sleep(generation(), 60_000, notMine);
      expect(watch.complete).to.equal(true);
    } finally {
      watch.close();
    }
  });

  it("a folder whose parents are missing further up than a lock folder's can be is not watched (the watch is incomplete: looks stay frequent)", function () {
    const watch = FolderWatch.start([dir, join(dir, "a", "b", "c")])!;
    expect(watch.complete).to.equal(false);
    watch.close();
  });
});
