// The native flock layer (src/native/flock.ts) against real native HDF5: h5py (Debian's
// /usr/bin/python3 with python3-h5py, HDF5 1.10.8) and h5dump. Node takes flock through
// the module only (no h5wasm open), so what is seen here is the flock layer alone.

import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, openSync, closeSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import {
  ignoresDisabledLocks,
  NativeFileLock,
  nativeHolders,
  nativeLocking,
  nativePlan,
  parseProcLocks,
  procLocksKey,
  tryFlock,
  unflock,
} from "../src/native/flock.js";
import { makeH5, tempDir } from "./support/files.js";
import { PYTHON, h5pyHold, nativeToolsMissing } from "./support/native.js";

const MODULE = fileURLToPath(new URL("../src/native/flock.js", import.meta.url));

// Opens `path` with h5py in each mode given; "hold" as the last argument keeps the last
// one open, prints READY and waits for stdin to close. One line per attempt:
// "OK <mode>" or "FAIL <mode> <errno> <message>".
const H5PY = `
import sys, h5py
path, modes = sys.argv[1], sys.argv[2].split(",")
hold = len(sys.argv) > 3 and sys.argv[3] == "hold"
def open_(mode):
    if mode == "Sr": return h5py.File(path, "r", swmr=True)
    if mode == "Sa":
        f = h5py.File(path, "a", libver="latest"); f.swmr_mode = True; return f
    return h5py.File(path, mode)
for i, mode in enumerate(modes):
    try:
        f = open_(mode)
    except OSError as e:
        print("FAIL", mode, e.errno, str(e).replace("\\n", " "), flush=True)
        if hold: sys.exit(3)
        continue
    if hold and i == len(modes) - 1:
        print("READY", flush=True)
        sys.stdin.read()
    f.close()
    if not hold: print("OK", mode, flush=True)
`;

/** h5py attempts, one child, results in order. */
function h5pyTry(path: string, modes: string[], env: NodeJS.ProcessEnv = {}): { mode: string; ok: boolean; errno?: number; message?: string }[] {
  const r = spawnSync(PYTHON, ["-c", H5PY, path, modes.join(",")], {
    encoding: "utf8",
    env: { ...process.env, ...env },
    timeout: 30_000,
  });
  if (r.status !== 0) throw new Error(`h5py child failed (${r.status}): ${r.stderr}`);
  return r.stdout
    .trim()
    .split("\n")
    .map((line) => {
      const [verdict, mode, errno, ...rest] = line.split(" ");
      return verdict === "OK" ? { mode, ok: true } : { mode, ok: false, errno: Number(errno), message: rest.join(" ") };
    });
}

/** Takes the module's lock in `kind` on `path`; fails the test if it is refused. */
function hold(path: string, kind: "shared" | "exclusive"): NativeFileLock {
  const r = NativeFileLock.open(path, kind);
  if (!r.lock) throw new Error(`no native lock: ${r.reason}`);
  expect(r.lock.tryAcquire(), `taking ${kind}`).to.equal(true);
  return r.lock;
}

/** Skips (saying why) where the layer is off here; in CI (CI set) that is a failure. */
function needNative(ctx: Mocha.Context): void {
  const state = nativeLocking();
  if (state.enabled) return;
  if (process.env.CI) throw new Error(`the native flock layer is off in CI: ${state.reason}`);
  console.log(`      skipped: native flock layer off: ${state.reason}`);
  ctx.skip();
}

describe("native flock layer", function () {
  let tmp: ReturnType<typeof tempDir>;
  let file: string;

  before(async function () {
    tmp = tempDir("h5ts-native-");
    file = join(tmp.dir, "native.h5");
    await makeH5(file);
  });
  after(() => tmp?.cleanup());

  it("is on here, through koffi", function () {
    needNative(this);
    expect(nativeLocking()).to.deep.equal({ enabled: true, backend: "koffi" });
  });

  it("plans the lock HDF5 takes for each mode", function () {
    expect(nativePlan("r")).to.include({ kind: "shared", when: "before-open", keepAfterOpen: true });
    expect(nativePlan("Sr")).to.include({ kind: "shared", when: "before-open", keepAfterOpen: true });
    expect(nativePlan("a")).to.include({ kind: "exclusive", when: "before-open", keepAfterOpen: true, create: false });
    expect(nativePlan("w")).to.include({ kind: "exclusive", when: "before-open", keepAfterOpen: true, create: true });
    expect(nativePlan("x")).to.include({ kind: "exclusive", when: "after-create" });
    expect(nativePlan("Sa")).to.include({ kind: "exclusive", when: "before-open", keepAfterOpen: false });
  });

  it("tryFlock: two descriptors of one process conflict; unflock and close release; bad fd throws EBADF", function () {
    needNative(this);
    const a = openSync(file, "r");
    const b = openSync(file, "r");
    try {
      expect(tryFlock(a, "shared")).to.equal(true);
      expect(tryFlock(b, "shared")).to.equal(true);
      expect(tryFlock(b, "exclusive")).to.equal(false); // a failed conversion drops b's SH (flock(2))
      unflock(a);
      expect(tryFlock(b, "exclusive")).to.equal(true);
      expect(tryFlock(a, "shared")).to.equal(false);
    } finally {
      closeSync(b);
    }
    expect(tryFlock(a, "exclusive")).to.equal(true); // closing b released its lock
    closeSync(a);
    expect(() => tryFlock(a, "shared")).to.throw().with.property("code", "EBADF");
  });

  it("nativeHolders shows our own lock (self), and NativeFileLock.holders() leaves it out", function () {
    needNative(this);
    const lock = hold(file, "exclusive");
    try {
      const all = nativeHolders(file);
      expect(all).to.deep.include({ pid: process.pid, command: all.find((h) => h.self)?.command, mode: "exclusive", self: true });
      expect(lock.holders()).to.deep.equal([]);
    } finally {
      lock.close();
    }
    expect(nativeHolders(file)).to.deep.equal([]);
    lock.close(); // idempotent
  });

  it("the lock's descriptor is not inherited by child processes (close-on-exec)", function () {
    needNative(this);
    const lock = hold(file, "exclusive");
    try {
      const r = spawnSync("/bin/sh", ["-c", "for f in /proc/$$/fd/*; do readlink \"$f\"; done"], { encoding: "utf8" });
      expect(r.stdout).to.not.include(file);
      expect(lock.holders()).to.deep.equal([]);
    } finally {
      lock.close();
    }
  });

  it("ENOSYS (flock disabled on the file system) is ignored unless HDF5_USE_FILE_LOCKING is TRUE or 1, as in HDF5", function () {
    const saved = process.env.HDF5_USE_FILE_LOCKING;
    try {
      const seen: Record<string, boolean> = {};
      for (const v of [undefined, "BEST_EFFORT", "TRUE", "1", "true"]) {
        if (v === undefined) delete process.env.HDF5_USE_FILE_LOCKING;
        else process.env.HDF5_USE_FILE_LOCKING = v;
        seen[String(v)] = ignoresDisabledLocks();
      }
      expect(seen).to.deep.equal({ undefined: true, BEST_EFFORT: true, TRUE: false, "1": false, true: true });
    } finally {
      if (saved === undefined) delete process.env.HDF5_USE_FILE_LOCKING;
      else process.env.HDF5_USE_FILE_LOCKING = saved;
    }
  });

  it("parses /proc/locks without throwing on odd lines", function () {
    const key = "fe:00:2146407";
    const text = [
      "1: FLOCK  ADVISORY  WRITE 5921 fe:00:2146407 0 EOF",
      "2: FLOCK  ADVISORY  READ  0 fe:00:2146407 0 EOF", // holder in another PID namespace
      "2: -> FLOCK  ADVISORY  WRITE 77 fe:00:2146407 0 EOF", // blocked request, not a holder
      "3: POSIX  ADVISORY  WRITE 12 fe:00:2146407 0 EOF", // fcntl lock: HDF5 never takes those
      "4: OFDLCK ADVISORY  READ  -1 fe:00:2146407 0 EOF",
      "5: FLOCK  ADVISORY  WRITE 13 FE:0:2146407 0 EOF", // same key, other spelling
      "6: FLOCK  ADVISORY  WRITE 14 fe:00:21464070 0 EOF",
      "7: FLOCK  ADVISORY  UNLCK 15 fe:00:2146407 0 EOF",
      "8: FLOCK  MSNFS  WRITE x fe:00:2146407",
      "9: FLOCK  ADVISORY  WRITE 99999999999999999999999 fe:00:2146407 0 EOF",
      "10: FLOCK  ADVISORY  WRITE 16 <none>:0 0 EOF",
      "",
      "garbage",
      "\u0000\u0001 : : :",
    ].join("\n");
    expect(parseProcLocks(text, key)).to.deep.equal([
      { pid: 5921, mode: "exclusive" },
      { pid: 0, mode: "shared" },
      { pid: 13, mode: "exclusive" },
    ]);
    expect(parseProcLocks(text, "not a key")).to.deep.equal([]);
    expect(procLocksKey(file)).to.match(/^[0-9a-f]{2,}:[0-9a-f]{2,}:\d+$/);
    expect(procLocksKey(join(tmp.dir, "missing.h5"))).to.equal(undefined);
    expect(nativeHolders(join(tmp.dir, "missing.h5"))).to.deep.equal([]);
  });

  it("w: the descriptor is opened (creating the file) before h5wasm would truncate it; r on a missing file locks nothing", function () {
    needNative(this);
    const missing = join(tmp.dir, "new.h5");
    const r = NativeFileLock.open(missing, "exclusive", { create: true });
    expect(r.lock?.created).to.equal(true);
    expect(statSync(missing).size).to.equal(0);
    expect(r.lock!.tryAcquire()).to.equal(true);
    r.lock!.close();
    expect(NativeFileLock.open(join(tmp.dir, "nope.h5"), "shared").reason).to.match(/ENOENT/);
    expect(NativeFileLock.open(tmp.dir, "shared").reason).to.match(/not a regular file/);
  });

  it("relax: exclusive -> shared lets readers in, -> none lets everyone in", function () {
    needNative(this);
    const lock = hold(file, "exclusive");
    const fd = openSync(file, "r");
    try {
      expect(tryFlock(fd, "shared")).to.equal(false);
      lock.relax("shared");
      expect(tryFlock(fd, "shared")).to.equal(true);
      unflock(fd);
      expect(tryFlock(fd, "exclusive")).to.equal(false);
      lock.relax("none");
      expect(tryFlock(fd, "exclusive")).to.equal(true);
    } finally {
      closeSync(fd);
      lock.close();
    }
  });

  it("works in worker threads: a worker's lock excludes the main thread's descriptor and shows as this pid", async function () {
    needNative(this);
    const code = `
      import { parentPort, workerData } from "node:worker_threads";
      const m = await import(workerData.module);
      const r = m.NativeFileLock.open(workerData.file, "exclusive");
      parentPort.postMessage({ state: m.nativeLocking(), took: r.lock?.tryAcquire() ?? r.reason });
      parentPort.once("message", () => { r.lock?.close(); parentPort.postMessage("closed"); });
    `;
    const w = new Worker(new URL(`data:text/javascript,${encodeURIComponent(code)}`), {
      workerData: { module: pathToFileURL(MODULE).href, file },
    });
    const next = () => new Promise<any>((res, rej) => { w.once("message", res); w.once("error", rej); });
    try {
      const first = await next();
      expect(first).to.deep.equal({ state: { enabled: true, backend: "koffi" }, took: true });
      const fd = openSync(file, "r");
      try {
        expect(tryFlock(fd, "shared")).to.equal(false);
        expect(nativeHolders(file).filter((h) => h.self)).to.have.length(1);
        w.postMessage("close");
        expect(await next()).to.equal("closed");
        expect(tryFlock(fd, "exclusive")).to.equal(true);
      } finally {
        closeSync(fd);
      }
    } finally {
      await w.terminate();
    }
  });

  describe("against h5py and h5dump", function () {
    before(function () {
      needNative(this);
      const why = nativeToolsMissing();
      if (why) {
        console.log(`      skipped: ${why}`);
        this.skip();
      }
    });

    it("(a) Node holds EX: h5py a and r fail with errno 11 (unable to lock file), h5dump fails", function () {
      const lock = hold(file, "exclusive");
      try {
        const res = h5pyTry(file, ["a", "r"]);
        for (const r of res) {
          expect(r.ok, `h5py ${r.mode}`).to.equal(false);
          expect(r.errno).to.equal(11);
          expect(r.message).to.match(/unable to lock file/);
        }
        const dump = spawnSync("h5dump", ["-H", file], { encoding: "utf8" });
        expect(dump.status, dump.stdout + dump.stderr).to.not.equal(0);
      } finally {
        lock.close();
      }
    });

    it("(a) Node holds SH: h5py r succeeds and a fails with errno 11; h5dump reads", function () {
      const lock = hold(file, "shared");
      try {
        const [r, a] = h5pyTry(file, ["r", "a"]);
        expect(r).to.deep.equal({ mode: "r", ok: true });
        expect(a).to.include({ mode: "a", ok: false, errno: 11 });
        expect(a.message).to.match(/unable to lock file/);
        const dump = spawnSync("h5dump", ["-H", file], { encoding: "utf8" });
        expect(dump.status, dump.stderr).to.equal(0);
        expect(dump.stdout).to.match(/DATASET "data"/);
      } finally {
        lock.close();
      }
      expect(h5pyTry(file, ["a"])).to.deep.equal([{ mode: "a", ok: true }]); // released
    });

    it("(b) h5py holds a: Node's EX and SH are refused; nativeHolders names python3, exclusive", async function () {
      const py = await h5pyHold(file, "a");
      try {
        const ex = NativeFileLock.open(file, "exclusive").lock!;
        const sh = NativeFileLock.open(file, "shared").lock!;
        try {
          expect(ex.tryAcquire()).to.equal(false);
          expect(sh.tryAcquire()).to.equal(false);
          expect(ex.holders()).to.deep.equal([{ pid: py.child.pid, command: "python3", mode: "exclusive", self: false }]);
        } finally {
          ex.close();
          sh.close();
        }
      } finally {
        await py.release();
      }
      const after = NativeFileLock.open(file, "exclusive").lock!;
      expect(after.tryAcquire()).to.equal(true);
      after.close();
    });

    it("(b) h5py holds r: Node's SH is taken, EX refused; the holder is python3, shared", async function () {
      const py = await h5pyHold(file, "r");
      try {
        const sh = NativeFileLock.open(file, "shared").lock!;
        const ex = NativeFileLock.open(file, "exclusive").lock!;
        try {
          expect(sh.tryAcquire()).to.equal(true);
          expect(ex.tryAcquire()).to.equal(false);
          expect(ex.holders()).to.deep.include({ pid: py.child.pid, command: "python3", mode: "shared", self: false });
        } finally {
          sh.close();
          ex.close();
        }
      } finally {
        await py.release();
      }
    });

    it("(c) HDF5_USE_FILE_LOCKING=FALSE turns the layer off, as it turns HDF5's off (h5py a opens beside our EX)", function () {
      const saved = { ...process.env };
      try {
        process.env.HDF5_USE_FILE_LOCKING = "FALSE";
        expect(nativeLocking()).to.deep.equal({ enabled: false, reason: "turned off by HDF5_USE_FILE_LOCKING=FALSE" });
        expect(NativeFileLock.open(file, "exclusive").reason).to.match(/HDF5_USE_FILE_LOCKING=FALSE/);
        process.env.HDF5_USE_FILE_LOCKING = "0";
        expect(nativeLocking().enabled).to.equal(false);
        // HDF5 compares exactly: lower-case "false" leaves its locking on, and ours.
        process.env.HDF5_USE_FILE_LOCKING = "false";
        expect(nativeLocking().enabled).to.equal(true);
        process.env.HDF5_USE_FILE_LOCKING = "BEST_EFFORT";
        expect(nativeLocking().enabled).to.equal(true);
        delete process.env.HDF5_USE_FILE_LOCKING;
        process.env.H5TS_NATIVE_LOCK = "0";
        expect(nativeLocking()).to.deep.equal({ enabled: false, reason: "turned off by H5TS_NATIVE_LOCK=0" });
        delete process.env.H5TS_NATIVE_LOCK;
        expect(nativeLocking({ enabled: false })).to.deep.equal({ enabled: false, reason: "turned off by the nativeLock option" });
        expect(nativeLocking({ enabled: true }).enabled).to.equal(true);
      } finally {
        process.env = saved;
      }
      // What the switch means for HDF5 itself: h5py with it opens "a" beside our EX lock.
      const lock = hold(file, "exclusive");
      try {
        expect(h5pyTry(file, ["a"], { HDF5_USE_FILE_LOCKING: "FALSE" })).to.deep.equal([{ mode: "a", ok: true }]);
        expect(h5pyTry(file, ["a"], { HDF5_USE_FILE_LOCKING: "false" })[0]).to.include({ ok: false, errno: 11 });
      } finally {
        lock.close();
      }
    });
  });

  it("(d) where koffi cannot be loaded (as with --omit=optional), the layer is off, says so once, and nothing throws", function () {
    // The compiled module alone in a folder with no node_modules above it: the same
    // require("koffi") fails as it does where the optional dependency was not installed.
    // The modules that use koffi (the flock layer, the folder watch) and what they import.
    const dir = join(tmp.dir, "no-koffi");
    for (const m of ["native/flock.js", "process/libc.js", "lock/watch.js", "lock/watched-folders.js", "lock/wake.js", "process/shared-memory.js"]) {
      mkdirSync(dirname(join(dir, m)), { recursive: true });
      copyFileSync(join(dirname(MODULE), "..", m), join(dir, m));
    }
    writeFileSync(join(dir, "package.json"), '{"type":"module"}');
    writeFileSync(
      join(dir, "main.js"),
      `import * as m from "./native/flock.js";
       import { FolderWatch } from "./lock/watch.js";
       const a = m.nativeLocking(), b = m.nativeLocking();
       const open = m.NativeFileLock.open(process.argv[2], "exclusive");
       let tf; try { m.tryFlock(0, "shared"); tf = "no throw"; } catch (e) { tf = e.code; }
       const watch = FolderWatch.start(["${dir}"]) === undefined ? "none: waiters look at set times" : "a watch";
       console.log(JSON.stringify({ a, b, open: open.reason, holders: m.nativeHolders(process.argv[2]), tf, watch }));`,
    );
    expect(existsSync(join(tmp.dir, "node_modules"))).to.equal(false);
    const r = spawnSync(process.execPath, [join(dir, "main.js"), file], {
      encoding: "utf8",
      env: { ...process.env, NODE_PATH: "", NODE_DEBUG: "h5-threadsafe", HOME: dir, H5TS_NATIVE_LOCK: "", HDF5_USE_FILE_LOCKING: "" },
    });
    expect(r.status, r.stderr).to.equal(0);
    const out = JSON.parse(r.stdout);
    expect(out.a.enabled).to.equal(false);
    expect(out.a.reason).to.match(/^koffi could not be loaded \(Cannot find module 'koffi'/);
    expect(out.b).to.deep.equal(out.a);
    expect(out.open).to.equal(out.a.reason);
    expect(out.holders).to.deep.equal([]);
    expect(out.tf).to.equal("ENOTSUP");
    expect(out.watch).to.equal("none: waiters look at set times");
    const said = r.stderr.split("\n").filter((l) => /native flock layer off/.test(l));
    expect(said, r.stderr).to.have.length(1);
    expect(said[0]).to.match(/H5-THREADSAFE \d+: native flock layer off: koffi could not be loaded/);
  });
});
