// No new limits: what bare h5wasm opens, the patch opens too.

import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readdirSync, realpathSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { lockDirsFor } from "../src/lock/folders.js";
import { canonicalPath } from "../src/lock/path.js";
import { acquireSync } from "../src/lock/wait.js";
import { tempDir } from "./support/files.js";
import { scenario } from "./support/scenario.js";

const MANY = fileURLToPath(new URL("./fixtures/many-files.js", import.meta.url));
const FULL = fileURLToPath(new URL("./fixtures/full-disk.js", import.meta.url));
const PROBE = fileURLToPath(new URL("./fixtures/limits-probe.js", import.meta.url));
const RECORD_READER = fileURLToPath(new URL("./fixtures/record-reader.js", import.meta.url));
const REGISTER = pathToFileURL(fileURLToPath(new URL("../src/register.js", import.meta.url))).href;

interface Probe {
  status: number | null;
  stdout: string;
  stderr: string;
  warnings: string[];
  [field: string]: unknown;
}

/**
 * Runs test/fixtures/limits-probe.js in a child process, bare or with the patch loaded
 * (`--import` of register.js), optionally under `ulimit -n`; returns its report (the last
 * line of its stdout) with its exit status and output.
 */
function probe(how: "bare" | "patched", args: string[], options: { env?: NodeJS.ProcessEnv; ulimit?: number } = {}): Probe {
  const argv = [...(how === "patched" ? ["--import", REGISTER] : []), PROBE, ...args];
  const env = { ...process.env, ...options.env };
  const r = options.ulimit
    ? spawnSync("sh", ["-c", `ulimit -n ${options.ulimit} && exec "$0" "$@"`, process.execPath, ...argv], { encoding: "utf8", env })
    : spawnSync(process.execPath, argv, { encoding: "utf8", env });
  let report: object;
  try {
    report = JSON.parse(r.stdout.trim().split("\n").pop() ?? "");
  } catch {
    throw new Error(`probe ${args[0]} (${how}) printed no report: status ${r.status}, signal ${r.signal}\n${r.stdout}\n${r.stderr.slice(-3000)}`);
  }
  return { ...report, status: r.status, stdout: r.stdout, stderr: r.stderr } as Probe;
}

/** What a program saw of a `write` probe: whether the open worked, the keys after, the error. */
const seen = (p: Probe) => ({ opened: p.opened, keys: p.keys, error: p.error });

/** The hash the lock folders of a file are named by (src/lock/folders.ts). */
const hashOf = (path: string) => createHash("sha256").update(realpathSync(path)).digest("hex").slice(0, 16);

/**
 * A path of exactly `length` bytes under `root`, its basename `base` bytes long, through
 * nested folders of at most 200 bytes (made here).
 */
function deepPath(root: string, length: number, base: number): string {
  let dir = root;
  for (let left = length - 1 - base - dir.length; left > 0; left = length - 1 - base - dir.length) {
    // "/" and a name; never leave a single byte, which no "/name" fits.
    const name = left - 1 <= 200 ? left - 1 : left - 201 === 1 ? 199 : 200;
    dir = join(dir, "d".repeat(name));
  }
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${"f".repeat(base - 3)}.h5`);
  expect(Buffer.byteLength(file)).to.equal(length);
  return file;
}

describe("no new limits", function () {
  const s = scenario("unused.h5");

  it("a loop opening and closing 600 files in one turn works under ulimit -n 128, as bare h5wasm does", function () {
    this.timeout(120_000);
    const run = (patched: string) => {
      const r = spawnSync("sh", ["-c", `ulimit -n 128 && exec "${process.execPath}" "${MANY}" "${s.dir}" 600 ${patched}`], { encoding: "utf8" });
      return JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}");
    };
    expect(run("bare")).to.deep.equal({ ok: 600 });
    expect(run("patched")).to.deep.equal({ ok: 600 });
  });

  it("reading a file on a full disk works as with bare h5wasm: the record goes to the fallback folder, or the open goes on unlocked and says so", function () {
    if (process.getuid?.() !== 0) this.skip(); // mounting a small tmpfs needs root
    const mnt = tempDir("h5ts-full-");
    const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt.dir], { encoding: "utf8" });
    if (mounted.status !== 0) {
      mnt.cleanup();
      this.skip(); // no mount here (a container without the capability)
    }
    try {
      const file = join(mnt.dir, "full.h5");
      copyFileSync(s.file, file);
      // Fill what is left, to the last byte.
      try {
        writeFileSync(join(mnt.dir, "filler"), Buffer.alloc(1 << 20));
      } catch {
        // ENOSPC: full, as wanted
      }
      const run = (how: string, env: NodeJS.ProcessEnv = {}) => {
        const r = spawnSync(process.execPath, [FULL, file, how], { encoding: "utf8", env: { ...process.env, ...env } });
        return JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}");
      };
      const bare = run("bare");
      expect(bare.keys).to.deep.equal(["data"]);
      // Beside the file there is no room: the record goes to the host's fallback folder.
      expect(run("patched")).to.deep.equal({ keys: ["data"], warnings: [] });
      expect(run("explicit")).to.deep.equal({ keys: ["data"], warnings: [] });
      // With the fallback folder on the full disk as well: no lock can be made. The drop-in
      // open goes on and says so; the explicit API says ENOLOCKDIR.
      const noFallback = { H5TS_FALLBACK_DIR: join(mnt.dir, "fallback") };
      expect(run("patched", noFallback)).to.deep.equal({ keys: ["data"], warnings: ["H5TS_UNLOCKED"] });
      expect(run("explicit", noFallback).error).to.match(/^ENOLOCKDIR .*no space left/);
    } finally {
      spawnSync("umount", [mnt.dir]);
      mnt.cleanup();
    }
  });

  describe("long names", function () {
    // 250 and 255 bytes: `.<name>.h5ts` does not fit NAME_MAX (255), the hash does. 220
    // and 240: the name fits, the folder's temporary name (made, then renamed into place)
    // must fit as well.
    const lengths = [220, 240, 250, 255];
    const named = (dir: string, length: number) => {
      const file = join(dir, `${"n".repeat(length - 3)}.h5`);
      copyFileSync(s.file, file);
      return file;
    };

    it(`a basename of ${lengths.join(", ")} bytes: open a, write, close as bare h5wasm does, locked beside the file`, function () {
      this.timeout(120_000);
      for (const length of lengths) {
        const bare = probe("bare", ["write", named(s.dir, length)]);
        expect(seen(bare), `bare, ${length} bytes`).to.deep.equal({ opened: true, keys: ["data", "more"], error: undefined });
        const patched = probe("patched", ["write", named(s.dir, length)]);
        expect(seen(patched), `patched, ${length} bytes`).to.deep.equal(seen(bare));
        // Locked (no H5TS_UNLOCKED), in a folder beside the file, its name shortened by the hash where needed.
        const file = named(s.dir, length);
        const name = `.${basename(file)}.h5ts`;
        expect(patched.warnings, `patched, ${length} bytes`).to.deep.equal([]);
        expect(patched.made, `patched, ${length} bytes`).to.deep.equal([`beside:${Buffer.byteLength(name) <= 255 ? name : `.${hashOf(file)}.h5ts`}`]);
      }
    });

    it(`a basename of ${lengths.join(", ")} bytes with H5TS_LOCK_DIR: as bare h5wasm, locked in the lock folder by a hashed name`, function () {
      this.timeout(120_000);
      const lockDir = join(s.dir, "locks");
      mkdirSync(lockDir);
      for (const length of lengths) {
        const file = named(s.dir, length);
        const bare = probe("bare", ["write", file]);
        const patched = probe("patched", ["write", named(s.dir, length)], { env: { H5TS_LOCK_DIR: lockDir } });
        expect(seen(patched), `patched, ${length} bytes`).to.deep.equal(seen(bare)).and.deep.equal({ opened: true, keys: ["data", "more"], error: undefined });
        expect(patched.warnings, `patched, ${length} bytes`).to.deep.equal([]);
        const hashed = `${hashOf(file)}-${basename(file)}.h5ts`;
        expect(patched.made, `patched, ${length} bytes`).to.deep.equal([`lockdir:${Buffer.byteLength(hashed) <= 255 ? hashed : `${hashOf(file)}.h5ts`}`]);
      }
    });

    it("a path near PATH_MAX (4050 and 4090 bytes) opens as bare h5wasm does: records that would not fit beside it go to the fallback folder", function () {
      this.timeout(120_000);
      // 4050: the folder beside fits PATH_MAX, a record in it does not; 4090: the folder does not either.
      for (const [length, base] of [[4050, 200], [4090, 60]]) {
        const root = join(s.dir, `deep${length}`);
        const file = deepPath(root, length, base);
        copyFileSync(s.file, file);
        const bare = probe("bare", ["write", file]);
        copyFileSync(s.file, file);
        const patched = probe("patched", ["write", file]);
        // Whatever bare h5wasm does with it, the patch does the same (no error of its own).
        expect(seen(patched), `${length} bytes`).to.deep.equal(seen(bare));
        expect(seen(bare), `bare, ${length} bytes`).to.deep.equal({ opened: true, keys: ["data", "more"], error: undefined });
        // Locked all the same: in the host's fallback folder, by the hashed name.
        expect(patched.warnings, `${length} bytes`).to.deep.equal([]);
        expect(patched.made, `${length} bytes`).to.deep.equal([`fallback:${hashOf(file)}-${basename(file)}.h5ts`]);
      }
    });
  });

  it("out of descriptors, a holder's record is not read as gone (a writer would go in beside it): its read fails with EMFILE", function () {
    // Threads share the descriptor table: another thread can take the last one between a
    // look's listing of the folder and its read of a record.
    const held = acquireSync(canonicalPath(s.file), "exclusive");
    try {
      const dir = lockDirsFor(canonicalPath(s.file), undefined).all[0];
      const [name] = readdirSync(dir);
      const r = spawnSync(process.execPath, [RECORD_READER, join(dir, name)], { encoding: "utf8" });
      expect(r.status, r.stderr).to.equal(0);
      const { outcome, taken } = JSON.parse(r.stdout);
      expect(taken, "descriptors taken before the read").to.be.greaterThan(0);
      expect(outcome, "the holder's record read as gone").to.equal("EMFILE");
    } finally {
      held.release();
    }
  });

  it("holding many files under ulimit -n 256: an open fails as with bare h5wasm (file_id -1), never with an error of the patch's own", function () {
    this.timeout(120_000);
    const count = 300; // more than bare h5wasm can hold under 256 descriptors
    for (let i = 0; i < count; i++) copyFileSync(s.file, join(s.dir, `h${i}.h5`));
    const bare = probe("bare", ["hold", s.dir, String(count)], { ulimit: 256 });
    const patched = probe("patched", ["hold", s.dir, String(count)], { ulimit: 256 });
    // HDF5 is given the flock's descriptor, and only a few held records keep one: at most
    // 10 % fewer files than bare h5wasm (the README: descriptors per open file).
    this.test!.title += ` (held: bare ${bare.held}, patched ${patched.held})`;
    expect(patched.held).to.be.at.least(Math.floor(0.9 * (bare.held as number)));
    expect(bare.failure).to.equal("file_id -1");
    expect(patched.failure).to.equal(bare.failure);
    expect(bare.held).to.be.within(1, count - 1);
    expect(patched.held).to.be.within(1, bare.held as number);
    // Out of descriptors, the open went on without a lock, and said so.
    expect(patched.warnings).to.include("H5TS_UNLOCKED");
  });

  it("holding 20 files: 8 records keep a descriptor, the others are marked through their path, when held and when let go", function () {
    for (let i = 0; i < 20; i++) copyFileSync(s.file, join(s.dir, `h${i}.h5`));
    const p = probe("patched", ["records", s.dir, "20"]);
    expect(p.held).to.deep.equal(Array(20).fill("x"));
    expect(p.descriptors).to.equal(8);
    expect(p.released).to.deep.equal(Array(20).fill("0")); // free, kept idle for the next open
  });

  it("a record written through its path that someone removed meanwhile (clear --force): the next open makes a new one", function () {
    for (let i = 0; i < 9; i++) copyFileSync(s.file, join(s.dir, `h${i}.h5`));
    const p = probe("patched", ["spilled", s.dir]);
    expect(p.reopened).to.equal("opened, keys data");
  });

  it("the flock stays while opens are on their way after HDF5 closed the descriptor it was given", function () {
    const p = probe("patched", ["renew", s.file]);
    expect({ held: p.held, between: p.between, after: p.after, closed: p.closed }).to.deep.equal({ held: ["READ"], between: ["READ"], after: ["READ"], closed: [] });
  });

  it("one descriptor per open file, as bare h5wasm: HDF5 is given the one holding the data file's flock", function () {
    const junk = join(s.dir, "junk.h5");
    writeFileSync(junk, "not HDF5");
    const bare = probe("bare", ["descriptors", s.file, junk]).seen as Record<string, Record<string, unknown>>;
    const patched = probe("patched", ["descriptors", s.file, junk]).seen as Record<string, Record<string, unknown>>;
    const kind = { r: "READ", a: "WRITE", w: "WRITE", Sr: "READ" } as Record<string, string>;
    for (const mode of ["r", "a", "w", "Sr"]) {
      const keys = mode === "w" ? 0 : 1; // w truncates (the fixture's file holds one dataset; w writes one back)
      expect(bare[mode], `bare ${mode}`).to.deep.equal({ id: true, descriptors: 1, flocks: [], keys, after: { descriptors: 0, flocks: [] } });
      expect(patched[mode], `patched ${mode}`).to.deep.equal({ id: true, descriptors: 1, flocks: [kind[mode]], keys, after: { descriptors: 0, flocks: [] } });
    }
    // HDF5 gives the descriptor back when its open fails: it is closed with the lock, nothing left.
    expect(bare.junk).to.deep.equal({ id: false, descriptors: 0, flocks: [] });
    expect(patched.junk).to.deep.equal({ id: false, descriptors: 0, flocks: [] });
  });

  describe("H5TS_REMOTE_STALE_MS", function () {
    const heartbeat = (value: string) => probe("patched", ["heartbeat", s.file], { env: { H5TS_REMOTE_STALE_MS: value } });
    const badEnv = (p: Probe) => p.stderr.match(/\[H5TS_BAD_ENV\]/g)?.length ?? 0;

    it("1e10 and 1e300 (above the timer's 2^31-1 ms): the heartbeat timer is bounded, the record is not touched while held", function () {
      for (const value of ["1e10", "1e300"]) {
        const p = heartbeat(value);
        expect(p.opened, value).to.equal(true);
        expect(p.remoteStaleMs, value).to.equal(String(Number(value)));
        // A timer past 2^31-1 ms would fire every millisecond, each time touching the record.
        expect(p.after, value).to.equal(p.before);
        expect(p.warnings, value).to.deep.equal([]);
        expect(p.stderr, value).not.to.include("TimeoutOverflowWarning");
        expect(badEnv(p), value).to.equal(0);
      }
    });

    it("the heartbeat this looks for does beat: at 100 (every 25 ms), the record is touched during the hold", function () {
      // A 25 ms interval set before the hold's 300 ms timer fires before it (timers run in order of their due time).
      const p = heartbeat("100");
      expect(p.remoteStaleMs).to.equal("100");
      expect(BigInt(p.after as string) > BigInt(p.before as string), `mtime ${p.before} then ${p.after}`).to.equal(true);
    });

    it("a value that is not a number of ms >= 0 is said once (H5TS_BAD_ENV) and the default (60 s) used; Infinity means no heartbeat", function () {
      for (const value of ["abc", "-5", "1e10ms"]) {
        const p = heartbeat(value);
        expect(p.opened, value).to.equal(true);
        expect(badEnv(p), value).to.equal(1);
        expect(p.remoteStaleMs, value).to.equal("60000");
        expect(p.after, value).to.equal(p.before);
      }
      for (const value of ["Infinity", "1e400"]) {
        const p = heartbeat(value);
        expect(p.opened, value).to.equal(true);
        expect(badEnv(p), value).to.equal(0);
        expect(p.remoteStaleMs, value).to.equal("Infinity");
        expect(p.after, value).to.equal(p.before);
        expect(p.stderr, value).not.to.include("TimeoutOverflowWarning");
      }
    });
  });

  describe("the deferred sweep of an idle record, its lock folder swapped after close()", function () {
    it("a regular file in the folder's place: the sweep runs, nothing is thrown from its timer, the program lives", function () {
      const p = probe("patched", ["swap", s.file, "file"]);
      expect(p.status, p.stderr.slice(-2000)).to.equal(0);
      expect(p.stdout).to.match(/^alive$/m);
      expect(p).to.include({ wasOpen: true, swept: true });
      expect(p.stderr).not.to.match(/ENOTDIR|Uncaught|Error:/);
    });

    it("a symlink to a folder holding a file named like the record: the sweep deletes nothing through it", function () {
      const p = probe("patched", ["swap", s.file, "symlink"]);
      expect(p.status, p.stderr.slice(-2000)).to.equal(0);
      expect(p.stdout).to.match(/^alive$/m);
      expect(p).to.include({ wasOpen: true, swept: true, decoyKept: true });
      expect(p.stderr).not.to.match(/Uncaught|Error:/);
    });
  });
});
