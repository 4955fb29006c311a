// A holder that /proc here cannot speak for is judged by its heartbeat: alive while it
// beats, even when its process looks unknown (or like another process) here; gone once the
// heartbeat is older than remoteStaleMs. Two such places: another host (a child in its own
// UTS namespace with another hostname, sharing this file system), and a container that
// shares the host's name but has its own PID namespace (where its pid is small, and names
// some other process here). And a third: another user's holder on this host, seen by a
// waiter whose /proc is mounted hidepid=2 (its entry hidden, the process there all the same).

import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { chmodSync, readdirSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { inspect } from "../src/index.js";
import { until } from "./support/agent.js";
import { scenario } from "./support/scenario.js";
import { NOBODY, needNobody } from "./support/users.js";

const STALE = 1000;
const OTHER = "h5ts-other-host";

const PLACES = [
  {
    name: "on another host",
    host: OTHER,
    prefix: ["unshare", "--uts", "sh", "-c", `hostname ${OTHER} && exec "$0" "$@"`],
  },
  {
    name: "in a container with this host's name (another PID namespace)",
    host: hostname(),
    prefix: ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"],
  },
];

for (const place of PLACES) {
describe(`holders ${place.name}`, function () {
  before(function () {
    if (spawnSync(place.prefix[0], [...place.prefix.slice(1), "true"]).status !== 0) this.skip(); // needs root (namespaces of its own)
  });
  const s = scenario("shared.h5");
  let file: string;
  beforeEach(() => (file = s.file));

  async function remoteHolder(mode: string) {
    const remote = await s.start("process", {
      env: { H5TS_REMOTE_STALE_MS: String(STALE) },
      prefix: place.prefix,
    });
    const h = await remote.do({ cmd: "open", file, mode });
    return { remote, h };
  }

  it("a live holder keeps its lock past the stale threshold; killed, it is reclaimed", async function () {
    const { remote } = await remoteHolder("a");
    const holders = inspect(file).holders;
    expect(holders.map((h) => [h.host, h.lock])).to.deep.equal([[place.host, "exclusive"]]);
    const local = await s.start("thread", { env: { H5TS_REMOTE_STALE_MS: String(STALE) } });
    const opening = local.do({ cmd: "open", file, mode: "r" });
    await until(() => inspect(file).waiters.length === 1, 15_000, "the local reader to wait");
    // Three stale periods: the remote's heartbeat keeps it alive.
    await new Promise((r) => setTimeout(r, 3 * STALE));
    expect(inspect(file).waiters.map((w) => w.pid), "still waiting").to.deep.equal([process.pid]);
    s.note("killing remote");
    const t0 = performance.now();
    await remote.kill("SIGKILL");
    const r = await opening;
    expect(s.order(), "a live holder was reaped").to.deep.equal([`${remote.name} opened a`, "killing remote", `${local.name} opened r`]);
    const waited = performance.now() - t0;
    expect(waited).to.be.within(STALE * 0.5, STALE * 8);
    await local.do({ cmd: "close", index: r.index });
  });
});
}

describe("a holder of another user, hidden from the waiter by hidepid=2", function () {
  // The waiter runs as nobody in a mount namespace of its own, whose /proc is a new procfs
  // mounted hidepid=2: there, other users' processes have no /proc entry (kill(pid, 0) still
  // says EPERM: they exist).
  const HIDDEN = [
    "unshare", "--mount", "--propagation", "private", "sh", "-c",
    `mount -t proc -o hidepid=2 proc /proc && exec setpriv --reuid=${NOBODY} --regid=${NOBODY} --clear-groups "$0" "$@"`,
  ];
  before(function () {
    needNobody(this);
    // pid 1 is root's: hidden there, or the machine cannot make such a /proc (no root, no mount namespaces).
    const r = spawnSync(HIDDEN[0], [...HIDDEN.slice(1), "sh", "-c", "test -e /proc/self/stat && ! test -e /proc/1/stat"]);
    if (r.status !== 0) {
      console.log(`      (skipped: cannot run nobody under a /proc mounted hidepid=2 here: ${String(r.stderr).trim() || `status ${r.status}`})`);
      this.skip();
    }
  });
  const s = scenario("hidden.h5", (dir) => chmodSync(dir, 0o755)); // nobody may read the file

  it("is waited for, never reaped as gone; the waiter gets in once it closes", async function () {
    const file = s.file;
    const holder = await s.start("process", { name: "holder" });
    const h = await holder.do({ cmd: "open", file, mode: "a" });
    // Open to all, so that a waiter that judged the holder gone could remove its record.
    const lockDir = join(s.dir, ".hidden.h5.h5ts");
    chmodSync(lockDir, 0o777);
    const held = readdirSync(lockDir);
    expect(held).to.have.length(1);
    // The records alone decide: the data file's flock, which would hold the waiter back too
    // on this local disk, is off for it (as over NFS, or where the native layer is off). Its
    // debug output says when it has judged the holder (at its first look): in the way, or gone.
    const waiter = await s.start("process", { name: "waiter", prefix: HIDDEN, env: { NODE_DEBUG: "h5-threadsafe", H5TS_NATIVE_LOCK: "0" } });
    const opening = waiter.do({ cmd: "open", file, mode: "r" });
    await until(() => / (wait \S+ shared behind|acquire \S+ shared) /.test(waiter.stderr), 15_000, "the waiter's first look");
    expect(readdirSync(lockDir), "the holder's record was removed").to.include(held[0]);
    expect(waiter.stderr, "the waiter took the lock").not.to.match(/ acquire \S+ shared /);
    expect(inspect(file).waiters.map((w) => [w.lock, w.pid]), "waiting").to.deep.equal([["shared", waiter.pid]]);
    expect(inspect(file).holders.map((x) => [x.lock, x.pid, x.alive])).to.deep.equal([["exclusive", holder.pid, true]]);
    await holder.do({ cmd: "close", index: h.index });
    const r = await opening;
    expect(BigInt(r.fileId) >= 0n).to.equal(true);
    expect(s.order(), "the hidden holder was taken for gone").to.deep.equal([`${holder.name} opened a`, `${holder.name} closing`, `${waiter.name} opened r`]);
    await waiter.do({ cmd: "close", index: r.index });
    expect(inspect(file)).to.deep.include({ holders: [], waiters: [] });
  });
});
