// Taking an idle record again without a look (src/lock/unchanged.ts): only while nothing
// that could stand in its way has changed in the file's lock folders since a look that
// found nothing. Each case below makes one kind of change and checks that the next reuse
// looks; a reuse with no change does not.

import { expect } from "chai";
import { mkdirSync, mkdtempSync, readdirSync, readlinkSync, renameSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import type { OwnRecord } from "../../src/lock/idle.js";
import { forget, found, prepare, unchanged } from "../../src/lock/unchanged.js";
import { FolderWatch } from "../../src/lock/watch.js";

const WATCHING_WORKER = new URL("../fixtures/reuse-watcher.js", import.meta.url);

describe("reusing a record without a look (inotify)", function () {
  this.timeout(20_000);
  let dir = "";
  let beside = "";
  let fallback = "";
  let record: OwnRecord;
  // Records whose names start with "x" stand in the way; "r" ones (compatible, or this thread's) do not.
  const matters = (name: string) => name.startsWith("x");

  before(function () {
    const probe = FolderWatch.start([tmpdir()]);
    if (!probe) this.skip(); // not Linux, or koffi missing: every open looks, as before
    probe.close();
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "h5ts-unchanged-"));
    beside = join(dir, ".f.h5.h5ts");
    fallback = join(dir, "root", "hash-f.h5.h5ts"); // missing, as the fallback folder most often is
    mkdirSync(beside);
    writeFileSync(join(beside, "mine"), "-");
    record = { dir: beside, name: "mine" } as OwnRecord;
  });
  afterEach(() => {
    forget(record);
    rmSync(dir, { recursive: true, force: true });
  });

  /** A look that found nothing in the way, with the watch in place first. */
  const trust = () => {
    prepare(record, [beside, fallback], matters);
    found(record, true);
  };

  it("nothing changed: no look; its own marks and records that cannot be in its way change nothing", function () {
    expect(unchanged(record), "before any look").to.equal(false);
    trust();
    expect(unchanged(record)).to.equal(true);
    writeFileSync(join(beside, "mine"), "x"); // its own marks
    writeFileSync(join(beside, "r-reader"), "s"); // a compatible record, made and marked
    writeFileSync(join(dir, "other.h5"), "data"); // another file beside the lock folder
    mkdirSync(join(dir, "root")); // the fallback's root: made, but not the fallback folder itself
    expect(unchanged(record)).to.equal(true);
  });

  for (const [what, change] of [
    ["a record that may stand in its way made", () => writeFileSync(join(beside, "x-writer"), "")],
    ["one marked", () => (writeFileSync(join(beside, "x-writer"), ""), trust(), writeFileSync(join(beside, "x-writer"), "x"))],
    ["one removed", () => (writeFileSync(join(beside, "x-writer"), ""), trust(), unlinkSync(join(beside, "x-writer")))],
    ["one renamed into the folder", () => (writeFileSync(join(dir, "x-tmp"), ""), renameSync(join(dir, "x-tmp"), join(beside, "x-writer")))],
    ["its own record removed (clear --force)", () => unlinkSync(join(beside, "mine"))],
    ["the fallback folder made (a user who cannot write beside the file)", () => mkdirSync(fallback, { recursive: true })],
    ["the lock folder removed", () => rmSync(beside, { recursive: true })],
  ] as const) {
    it(`${what}: the next reuse looks`, function () {
      trust();
      change();
      expect(unchanged(record)).to.equal(false);
    });
  }

  it("a look that found someone is not kept, nor one after which a change came", function () {
    prepare(record, [beside, fallback], matters);
    found(record, false);
    expect(unchanged(record)).to.equal(false);
    prepare(record, [beside, fallback], matters);
    writeFileSync(join(beside, "x-writer"), "x"); // during the look
    found(record, true);
    expect(unchanged(record)).to.equal(false);
  });

  it("the thread's inotify instance is closed with its last record, and Node closes a terminated worker's", async function () {
    const before = inotifyInstances();
    trust();
    expect(inotifyInstances()).to.equal(before + 1);
    forget(record);
    expect(inotifyInstances()).to.equal(before);
    // A worker that keeps a record's watch and is terminated (its exit handlers do not run).
    const w = new Worker(WATCHING_WORKER, { workerData: { dir: beside } });
    expect(await new Promise((r) => w.once("message", r))).to.equal("watching");
    expect(inotifyInstances()).to.equal(before + 1);
    await w.terminate();
    expect(inotifyInstances(), "the terminated worker's inotify instance stays open").to.equal(before);
  });
});

/** This process's inotify instances. */
function inotifyInstances(): number {
  return readdirSync("/proc/self/fd").filter((n) => {
    try {
      return readlinkSync(`/proc/self/fd/${n}`) === "anon_inode:inotify";
    } catch {
      return false;
    }
  }).length;
}
