// Lock folders: beside the data file by default, gone with the last holder; a user who
// may read a file but not write its folder still opens it, with records in the host's
// fallback folder that every locker of the file also reads; H5TS_LOCK_DIR moves them.
// The unprivileged user is `nobody`, in child processes started with its uid (as root).

import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import h5wasm from "h5wasm/node";
import { inspect } from "../src/index.js";
import { until } from "./support/agent.js";
import { tempDir } from "./support/files.js";
import { scenario } from "./support/scenario.js";
import { NOBODY, needNobody } from "./support/users.js";


/** Skips the running test, saying why. */
function skip(ctx: Mocha.Context, why: string): void {
  console.log(`      (skipped: ${why})`);
  ctx.skip();
}

describe("where lock files live", function () {
  const s = scenario("data.h5", (dir) => chmodSync(dir, 0o755)); // readable, not writable, by others
  const start = (options?: Parameters<typeof s.start>[1]) => s.start("process", options);
  let file: string;
  let dir: string;
  beforeEach(() => ({ file, dir } = s));

  it("beside the file while held, named .<file>.h5ts, and gone after the last close", async function () {
    const a = await start();
    const h = await a.do({ cmd: "open", file, mode: "r" });
    expect(readdirSync(dir).sort()).to.deep.equal([".data.h5.h5ts", "data.h5"]);
    await a.do({ cmd: "close", index: h.index });
    await until(() => readdirSync(dir).length === 1, 5000, "the lock folder to go");
    expect(readdirSync(dir)).to.deep.equal(["data.h5"]);
  });

  it("H5TS_LOCK_DIR puts them in a folder of the user's choice", async function () {
    const locks = join(dir, "locks");
    mkdirSync(locks);
    const a = await start({ env: { H5TS_LOCK_DIR: locks } });
    const h = await a.do({ cmd: "open", file, mode: "a" });
    expect(readdirSync(dir).sort()).to.deep.equal(["data.h5", "locks"]);
    expect(readdirSync(locks)).to.have.length(1);
    expect(inspect(file, { lockDir: locks }).holders.map((x) => x.lock)).to.deep.equal(["exclusive"]);
    await a.do({ cmd: "close", index: h.index });
    await until(() => readdirSync(locks).length === 0, 5000, "the lock folder to go");
  });

  it("an H5TS_LOCK_DIR that is missing, or a file, is a configuration error: both APIs fail with ENOLOCKDIR, nothing opens unlocked", async function () {
    writeFileSync(join(dir, "not-a-folder"), "");
    for (const locks of [join(dir, "no-such-folder"), join(dir, "not-a-folder")]) {
      const a = await start({ env: { H5TS_LOCK_DIR: locks } });
      const replies = [await a.send({ cmd: "open", file, mode: "r" }), await a.send({ cmd: "open", via: "explicit", file, mode: "r" })];
      expect(replies.map((r) => [r.ok, r.error?.code]), locks).to.deep.equal([
        [false, "ENOLOCKDIR"],
        [false, "ENOLOCKDIR"],
      ]);
      expect(replies[0].error?.message).to.include(locks);
      await a.exit();
      expect(a.stderr).not.to.match(/H5TS_UNLOCKED/);
    }
  });

  it("modes do not depend on the umask: a holder with umask 077 still makes a folder and records others can read", async function () {
    const a = await start({ prefix: ["sh", "-c", 'umask 077 && exec "$0" "$@"'] });
    const h = await a.do({ cmd: "open", file, mode: "r" });
    const lockDir = join(dir, ".data.h5.h5ts");
    expect(statSync(lockDir).mode & 0o777, "the folder").to.equal(0o755);
    for (const name of readdirSync(lockDir)) expect(statSync(join(lockDir, name)).mode & 0o777, name).to.equal(0o644);
    await a.do({ cmd: "close", index: h.index });
  });

  describe("a user who cannot write the file's folder", function () {
    before(function () {
      needNobody(this);
    });

    it("opens it for reading, and writers elsewhere wait for that reader", async function () {
      const reader = await start({ uid: NOBODY, gid: NOBODY });
      const r = await reader.do({ cmd: "open", file, mode: "r" });
      expect(BigInt(r.fileId) >= 0n).to.equal(true);
      expect(readdirSync(dir), "nothing written beside the file").to.deep.equal(["data.h5"]);
      const state = inspect(file);
      expect(state.holders.map((h) => [h.lock, h.pid])).to.deep.equal([["shared", reader.pid]]);
      expect(readdirSync(state.dirs[1])).to.have.length(1);
      const writer = await start();
      const writing = writer.do({ cmd: "open", file, mode: "a" });
      await until(() => inspect(file).waiters.length === 1, 15_000, "the writer to wait");
      await reader.do({ cmd: "close", index: r.index });
      const w = await writing;
      expect(s.order()).to.deep.equal([`${reader.name} opened r`, `${reader.name} closing`, `${writer.name} opened a`]);
      await writer.do({ cmd: "close", index: w.index });
      expect(inspect(file)).to.deep.include({ holders: [], waiters: [] });
    });

    it("opens it for reading, and writers elsewhere wait for that reader, whatever the TMPDIR of each (one fallback folder per host)", async function () {
      // Each process has a TMPDIR of its own, and the host's default fallback folder (no
      // H5TS_FALLBACK_DIR): /run/lock/h5-threadsafe, in a mount namespace of its own where
      // /run/lock is this run's private folder, the parent of the H5TS_FALLBACK_DIR that
      // this process (and its inspect()) uses. So nothing is put in the host's own.
      const ours = process.env.H5TS_FALLBACK_DIR ?? "";
      if (basename(ours) !== "h5-threadsafe") return skip(this, `H5TS_FALLBACK_DIR (${ours}) is not named h5-threadsafe, as the default is`);
      if (!statSync("/run/lock", { throwIfNoEntry: false })?.isDirectory()) return skip(this, "no /run/lock here to put this run's folder on");
      const inNamespace = (setpriv: string) => [
        "unshare", "--mount", "--propagation", "private", "sh", "-c",
        `mount --bind "$H5TS_TEST_RUN_LOCK" /run/lock && exec ${setpriv} "$0" "$@"`,
      ];
      const asRoot = inNamespace("");
      const asNobody = inNamespace(`setpriv --reuid=${NOBODY} --regid=${NOBODY} --clear-groups`);
      const runLock = statSync(dirname(ours));
      const probe = spawnSync(asNobody[0], [...asNobody.slice(1), "stat", "-c", "%d:%i", "/run/lock"], { env: { ...process.env, H5TS_TEST_RUN_LOCK: dirname(ours) }, encoding: "utf8" });
      if (probe.stdout.trim() !== `${runLock.dev}:${runLock.ino}`) {
        return skip(this, `cannot bind a folder on /run/lock in a mount namespace here: ${probe.stderr.trim() || `status ${probe.status}`}`);
      }
      const tmps = [tempDir("h5ts-tmpdir-"), tempDir("h5ts-tmpdir-")];
      try {
        for (const t of tmps) chmodSync(t.dir, 0o1777);
        // The records alone decide: the data file's flock, which would hold the writer back
        // on this local disk, is off (as with HDF5_USE_FILE_LOCKING=FALSE). The writer's debug
        // output says when it has looked: it waits behind the reader, or takes the lock.
        const env = (tmp: string) => ({ TMPDIR: tmp, H5TS_FALLBACK_DIR: "", H5TS_TEST_RUN_LOCK: dirname(ours), H5TS_NATIVE_LOCK: "0", NODE_DEBUG: "h5-threadsafe" });
        const reader = await start({ name: "reader", prefix: asNobody, env: env(tmps[0].dir) });
        const r = await reader.do({ cmd: "open", file, mode: "r" });
        expect(BigInt(r.fileId) >= 0n).to.equal(true);
        expect(readdirSync(dir), "nothing written beside the file").to.deep.equal(["data.h5"]);
        const writer = await start({ name: "writer", prefix: asRoot, env: env(tmps[1].dir) });
        const writing = writer.do({ cmd: "open", file, mode: "a" });
        await until(() => / (wait \S+ exclusive behind|acquire \S+ exclusive) /.test(writer.stderr), 15_000, "the writer's first look");
        expect(writer.stderr, "the writer took the lock beside the reader").not.to.match(/ acquire \S+ exclusive /);
        // Both in the host's folder, which is this process's H5TS_FALLBACK_DIR.
        const state = inspect(file);
        expect(state.holders.map((h) => [h.lock, h.pid])).to.deep.equal([["shared", reader.pid]]);
        expect(state.waiters.map((w) => [w.lock, w.pid])).to.deep.equal([["exclusive", writer.pid]]);
        expect(readdirSync(state.dirs[1])).to.have.length(1);
        await reader.do({ cmd: "close", index: r.index });
        const w = await writing;
        expect(s.order()).to.deep.equal([`${reader.name} opened r`, `${reader.name} closing`, `${writer.name} opened a`]);
        await writer.do({ cmd: "close", index: w.index });
        expect(inspect(file)).to.deep.include({ holders: [], waiters: [] });
        for (const t of tmps) expect(readdirSync(t.dir), `nothing in TMPDIR ${t.dir}`).to.deep.equal([]);
      } finally {
        for (const t of tmps) t.cleanup();
      }
    });

    it("waits, reading, for a writer that holds the file beside it, via both APIs", async function () {
      const writer = await start();
      const w = await writer.do({ cmd: "open", file, mode: "a" });
      const reader = await start({ uid: NOBODY, gid: NOBODY });
      const dropIn = reader.do({ cmd: "open", file, mode: "r" });
      await until(() => inspect(file).waiters.length === 1, 15_000, "the reader to wait");
      await writer.do({ cmd: "close", index: w.index });
      const r = await dropIn;
      expect(s.order()).to.deep.equal([`${writer.name} opened a`, `${writer.name} closing`, `${reader.name} opened r`]);
      const explicit = await reader.do({ cmd: "open", via: "explicit", file, mode: "r" });
      await reader.do({ cmd: "close", index: explicit.index });
      await reader.do({ cmd: "close", index: r.index });
      expect(inspect(file)).to.deep.include({ holders: [], waiters: [] });
      await until(() => !existsSync(join(dir, ".data.h5.h5ts")), 5000, "the lock folder to go");
    });

    it("opens it for reading past a dead root holder's record in the root-owned lock folder, via both APIs; a writer then gets in at once", async function () {
      // A file without SWMR superblock flags, so the killed writer leaves it readable.
      await h5wasm.ready;
      const file = join(dir, "plain.h5");
      new h5wasm.File(file, "w").close();
      chmodSync(file, 0o644);
      const holder = await start({ name: "holder" });
      await holder.do({ cmd: "open", file, mode: "a" });
      await holder.kill("SIGKILL");
      const lockDir = join(dir, ".plain.h5.h5ts");
      const st = statSync(lockDir);
      expect([st.uid, st.mode & 0o7777], "root's folder, which nobody cannot write").to.deep.equal([0, 0o755]);
      const dead = readdirSync(lockDir);
      expect(dead, "the killed holder's record stays").to.have.length(1);
      expect(inspect(file).holders.map((h) => [h.lock, h.pid, h.alive])).to.deep.equal([["exclusive", holder.pid, false]]);
      // Each in its own process: a thread's second open would join its first one's lock and never look.
      const readers = [await start({ name: "drop-in", uid: NOBODY, gid: NOBODY }), await start({ name: "explicit", uid: NOBODY, gid: NOBODY })];
      const replies = [await readers[0].send({ cmd: "open", file, mode: "r" }), await readers[1].send({ cmd: "open", via: "explicit", file, mode: "r" })];
      for (const [i, reply] of replies.entries()) {
        expect(reply.ok, `${readers[i].name}: ${reply.error?.code} ${reply.error?.message}`).to.equal(true);
        expect(BigInt(reply.value.fileId) >= 0n, `${readers[i].name}: file_id`).to.equal(true);
      }
      expect(readdirSync(lockDir), "the dead record cannot be nobody's to remove").to.deep.equal(dead);
      expect(inspect(file).holders.map((h) => [h.lock, h.pid, h.alive])).to.have.deep.members([
        ["exclusive", holder.pid, false],
        ["shared", readers[0].pid, true],
        ["shared", readers[1].pid, true],
      ]);
      for (const [i, reader] of readers.entries()) await reader.do({ cmd: "close", index: replies[i].value.index });
      for (const reader of readers) {
        await reader.exit(); // what it wrote to stderr at its open came long before
        expect(reader.stderr, `${reader.name} said`).not.to.match(/EACCES|H5TS_UNLOCKED/);
      }
      // Nothing left in a writer's way: with no wait allowed at all, it gets in, and removes the dead record.
      const writer = await start({ name: "writer" });
      const w = await writer.send({ cmd: "open", via: "explicit", file, mode: "a", options: { timeoutMs: 0 } });
      expect(w.ok, `the writer was held back: ${w.error?.code} ${w.error?.message}`).to.equal(true);
      expect(readdirSync(lockDir)).not.to.include(dead[0]);
      await writer.do({ cmd: "close", index: w.value.index });
      expect(inspect(file)).to.deep.include({ holders: [], waiters: [] });
    });

    it("a fallback folder made by another user without the sticky bit (0755) is not used: a drop-in open warns H5TS_UNLOCKED and opens, openFile fails with ENOLOCKDIR", async function () {
      const root = join(dirname(dir), `${basename(dir)}-fallback-0755`);
      mkdirSync(root, { mode: 0o755 }); // root's, not shared as /tmp is
      try {
        const env = { H5TS_FALLBACK_DIR: root };
        const [dropIn, explicit] = [await start({ name: "drop-in", uid: NOBODY, gid: NOBODY, env }), await start({ name: "explicit", uid: NOBODY, gid: NOBODY, env })];
        const opened = await dropIn.send({ cmd: "open", file, mode: "r" });
        const refused = await explicit.send({ cmd: "open", via: "explicit", file, mode: "r" });
        expect(opened.ok && BigInt(opened.value.fileId) >= 0n, `drop-in: ${opened.error?.message}`).to.equal(true);
        expect([refused.ok, refused.error?.code]).to.deep.equal([false, "ENOLOCKDIR"]);
        expect(refused.error?.message).to.match(/not 1777|cannot be shared safely/);
        await dropIn.exit();
        expect(dropIn.stderr).to.match(/H5TS_UNLOCKED.*WITHOUT a lock/);
        expect(readdirSync(root), "nothing made in another user's folder").to.deep.equal([]);
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    });

    it("cannot open it for writing, exactly as without the patch", async function () {
      const results = [];
      for (const patch of [false, true]) {
        const a = await start({ uid: NOBODY, gid: NOBODY, patch });
        results.push(await a.send({ cmd: "open", file, mode: "a" }));
        await a.exit();
      }
      expect(results[0]).to.deep.equal(results[1]);
      expect(results[0].value.fileId).to.equal("-1");
      expect(inspect(file)).to.deep.include({ holders: [], waiters: [] });
    });
  });
});
