// A holder on another host (here: a child in its own UTS namespace with another hostname,
// sharing this file system) is judged by its heartbeat: alive while it beats, even when
// its process looks unknown here; gone once the heartbeat is older than remoteStaleMs.

import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { hostname } from "node:os";
import { join } from "node:path";
import { inspect } from "../src/index.js";
import { Agent, settled, until } from "./support/agent.js";
import { makeH5, tempDir } from "./support/files.js";

const STALE = 1000;
const OTHER = "h5ts-other-host";
const canUnshare = () => spawnSync("unshare", ["--uts", "true"]).status === 0;

describe("holders on another host", function () {
  let tmp: ReturnType<typeof tempDir>;
  let file: string;
  const agents: Agent[] = [];
  before(function () {
    if (!canUnshare()) this.skip(); // needs root (a UTS namespace of its own)
  });
  beforeEach(async () => {
    tmp = tempDir();
    file = join(tmp.dir, "shared.h5");
    await makeH5(file);
  });
  afterEach(async () => {
    await Promise.all(agents.splice(0).map((a) => a.stop()));
    tmp.cleanup();
  });

  async function remoteHolder(mode: string) {
    const remote = new Agent("process", {
      env: { H5TS_REMOTE_STALE_MS: String(STALE) },
      prefix: ["unshare", "--uts", "sh", "-c", `hostname ${OTHER} && exec "$0" "$@"`],
    });
    agents.push(remote);
    const h = await remote.do({ cmd: "open", file, mode });
    return { remote, h };
  }

  it("a live remote holder keeps its lock past the stale threshold; killed, it is reclaimed", async function () {
    const { remote } = await remoteHolder("a");
    const holders = inspect(file).holders;
    expect(holders.map((h) => [h.host, h.mode])).to.deep.equal([[OTHER, "exclusive"]]);
    expect(hostname()).to.not.equal(OTHER);
    const local = new Agent("thread", { env: { H5TS_REMOTE_STALE_MS: String(STALE) } });
    agents.push(local);
    const opening = local.do({ cmd: "open", file, mode: "r" });
    await until(() => inspect(file).waiters.length === 1, 15_000, "the local reader to wait");
    // Three stale periods: the remote's heartbeat keeps it alive.
    await new Promise((r) => setTimeout(r, 3 * STALE));
    expect(await settled(opening), "a live remote holder was reaped").to.equal(false);
    const t0 = performance.now();
    await remote.kill("SIGKILL");
    const r = await opening;
    const waited = performance.now() - t0;
    expect(waited).to.be.within(STALE * 0.5, STALE * 8);
    await local.do({ cmd: "close", index: r.index });
  });
});
