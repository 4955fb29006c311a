// Taking an idle record again without a look (src/lock/unchanged.ts): only while nothing
// that could stand in its way has changed in the file's lock folders since a look that
// found nothing. Each case below makes one kind of change and checks that the next reuse
// looks; a reuse with no change does not.

import { expect } from "chai";
import { closeSync, linkSync, mkdirSync, mkdtempSync, openSync, readdirSync, readlinkSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import type { OwnRecord } from "../../src/lock/idle.js";
import { forget, found, prepare, unchanged } from "../../src/lock/unchanged.js";
import { FolderWatch } from "../../src/lock/watch.js";
import { acquireSync } from "../../src/lock/wait.js";
import type { LockMode } from "../../src/lock/modes.js";

const WATCHING_WORKER = new URL("../fixtures/reuse-watcher.js", import.meta.url);
const LOCK_TAKER = new URL("../fixtures/lock-taker.js", import.meta.url);

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

  const dirs = () => [beside, fallback];
  /** A look that found nothing in the way, with the watch in place first. */
  const trust = () => {
    prepare(record, dirs(), matters);
    found(record, true);
  };

  it("nothing changed: no look; its own marks and records that cannot be in its way change nothing", function () {
    expect(unchanged(record, dirs()), "before any look").to.equal(false);
    trust();
    expect(unchanged(record, dirs())).to.equal(true);
    writeFileSync(join(beside, "mine"), "x"); // its own marks
    writeFileSync(join(beside, "r-reader"), "s"); // a compatible record, made and marked
    writeFileSync(join(dir, "other.h5"), "data"); // another file beside the lock folder
    mkdirSync(join(dir, "root")); // the fallback's root: made, but not the fallback folder itself
    expect(unchanged(record, dirs())).to.equal(true);
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
      expect(unchanged(record, dirs())).to.equal(false);
    });
  }

  it("a folder replaced while something holds it open (no event comes then), or moved away with its parent: the next reuse looks", function () {
    // Linux queues a removed folder's events only when its last holder lets go of it.
    const other = join(dir, "other.h5ts");
    mkdirSync(other);
    const otherDirs = [beside, other];
    prepare(record, otherDirs, matters);
    found(record, true);
    expect(unchanged(record, otherDirs)).to.equal(true);
    const held = openSync(other, "r"); // a lister preempted mid-readdir, a shell in the folder...
    try {
      rmSync(other, { recursive: true });
      mkdirSync(other);
      writeFileSync(join(other, "x-writer"), "x"); // in the new folder, which nobody watches
      expect(unchanged(record, otherDirs), "the replaced folder went unseen").to.equal(false);
    } finally {
      closeSync(held);
    }
    // Moved away with its parent, a new one made at the same path: no event for the watch.
    trust();
    expect(unchanged(record, dirs())).to.equal(true);
    renameSync(dir, `${dir}-old`);
    mkdirSync(beside, { recursive: true });
    try {
      expect(unchanged(record, dirs()), "the moved folder went unseen").to.equal(false);
    } finally {
      rmSync(`${dir}-old`, { recursive: true, force: true });
    }
  });

  it("its inotify descriptor closed under it (by a double close elsewhere), or that number opened anew on something else: the reuse looks", function () {
    const before = new Set(inotifyDescriptors());
    trust();
    const ours = inotifyDescriptors().filter((fd) => !before.has(fd));
    expect(ours, "one inotify instance made for the reuse").to.have.length(1);
    expect(unchanged(record, dirs())).to.equal(true);
    closeSync(Number(ours[0]));
    expect(unchanged(record, dirs()), "closed (EBADF)").to.equal(false);
    trust();
    const other = openSync("/dev/null", "r"); // the lowest free number: the one just closed
    try {
      expect(other).to.equal(Number(ours[0]));
      expect(unchanged(record, dirs()), "the number names /dev/null").to.equal(false);
    } finally {
      closeSync(other);
    }
  });

  it("other folders than the watched ones (the file got a second name), or its record no longer in them (it lost it): the reuse looks", function () {
    trust();
    const inode = join(dir, "ino-1-2.h5ts");
    expect(unchanged(record, [inode, beside, fallback]), "folders added").to.equal(false);
    trust();
    const moved = { ...record, dir: join(dir, "elsewhere") } as OwnRecord;
    expect(unchanged(moved, dirs()), "its record's folder is not one of them").to.equal(false);
  });

  describe("through the lock itself", function () {
    const idOf = (p: string) => {
      const st = statSync(p);
      return { dev: st.dev, ino: st.ino, nlink: st.nlink, regular: true };
    };
    /** Takes `mode` on `file` in a worker; resolves once it holds, with a function that lets go. */
    const holdIn = async (file: string, mode: LockMode) => {
      const w = new Worker(LOCK_TAKER, { workerData: { file, mode } });
      await new Promise((resolve, reject) => (w.once("message", resolve), w.once("error", reject)));
      return async () => {
        w.postMessage("release");
        await new Promise((r) => w.once("message", r));
        await w.terminate();
      };
    };
    /** Whether this thread gets `mode` on `file` within 300 ms (it reuses its idle record). */
    const gets = (file: string, mode: LockMode) => {
      try {
        acquireSync(file, mode, { id: idOf(file), timeoutMs: 300 }).release();
        return true;
      } catch (e) {
        expect((e as { code?: string }).code).to.equal("ELOCKTIMEOUT");
        return false;
      }
    };

    it("a second name made for the file after the last look: a writer through it holds, and the reuse through the first name waits", async function () {
      const f = join(dir, "f.h5");
      writeFileSync(f, "x");
      expect(gets(f, "shared")).to.equal(true);
      expect(gets(f, "shared")).to.equal(true); // its look is kept from here on
      linkSync(f, join(dir, "g.h5"));
      const letGo = await holdIn(join(dir, "g.h5"), "exclusive"); // locked by inode now
      try {
        expect(gets(f, "shared"), "took shared beside a writer").to.equal(false);
      } finally {
        await letGo();
      }
    });

    it("the data folder moved away and made anew after the last look: the reuse does not hold by a record nobody can see", async function () {
      const data = join(dir, "data");
      mkdirSync(data);
      const f = join(data, "f.h5");
      writeFileSync(f, "x");
      expect(gets(f, "shared")).to.equal(true);
      expect(gets(f, "shared")).to.equal(true);
      renameSync(data, join(dir, "data-old"));
      mkdirSync(data);
      writeFileSync(f, "y"); // the next run's file, at the same path
      const held = acquireSync(f, "shared", { id: idOf(f), timeoutMs: 300 });
      try {
        const w = new Worker(LOCK_TAKER, { workerData: { file: f, mode: "exclusive" } });
        const outcome = await Promise.race([new Promise((r) => w.once("message", r)), new Promise((r) => setTimeout(() => r("waiting"), 500))]);
        await w.terminate();
        expect(outcome, "a writer took it beside this thread's reader").to.equal("waiting");
      } finally {
        held.release(true);
      }
    });
  });

  it("a look that found someone is not kept, nor one after which a change came", function () {
    prepare(record, dirs(), matters);
    found(record, false);
    expect(unchanged(record, dirs())).to.equal(false);
    prepare(record, dirs(), matters);
    writeFileSync(join(beside, "x-writer"), "x"); // during the look
    found(record, true);
    expect(unchanged(record, dirs())).to.equal(false);
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
  return inotifyDescriptors().length;
}

function inotifyDescriptors(): string[] {
  return readdirSync("/proc/self/fd").filter((n) => {
    try {
      return readlinkSync(`/proc/self/fd/${n}`) === "anon_inode:inotify";
    } catch {
      return false;
    }
  });
}
