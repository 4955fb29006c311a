// A holder on another host (here: a child in its own UTS namespace with another hostname,
// sharing this file system) is judged by its heartbeat: alive while it beats, even when
// its process looks unknown here; gone once the heartbeat is older than remoteStaleMs.

import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { hostname } from "node:os";
import { inspect } from "../src/index.js";
import { until } from "./support/agent.js";
import { scenario } from "./support/scenario.js";

const STALE = 1000;
const OTHER = "h5ts-other-host";
const canUnshare = () => spawnSync("unshare", ["--uts", "true"]).status === 0;

describe("holders on another host", function () {
  before(function () {
    if (!canUnshare()) this.skip(); // needs root (a UTS namespace of its own)
  });
  const s = scenario("shared.h5");
  let file: string;
  beforeEach(() => (file = s.file));

  async function remoteHolder(mode: string) {
    const remote = await s.start("process", {
      env: { H5TS_REMOTE_STALE_MS: String(STALE) },
      prefix: ["unshare", "--uts", "sh", "-c", `hostname ${OTHER} && exec "$0" "$@"`],
    });
    const h = await remote.do({ cmd: "open", file, mode });
    return { remote, h };
  }

  it("a live remote holder keeps its lock past the stale threshold; killed, it is reclaimed", async function () {
    const { remote } = await remoteHolder("a");
    const holders = inspect(file).holders;
    expect(holders.map((h) => [h.host, h.mode])).to.deep.equal([[OTHER, "exclusive"]]);
    expect(hostname()).to.not.equal(OTHER);
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
    expect(s.order(), "a live remote holder was reaped").to.deep.equal([`${remote.name} opened a`, "killing remote", `${local.name} opened r`]);
    const waited = performance.now() - t0;
    expect(waited).to.be.within(STALE * 0.5, STALE * 8);
    await local.do({ cmd: "close", index: r.index });
  });
});
