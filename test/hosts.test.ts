// A holder that /proc here cannot speak for is judged by its heartbeat: alive while it
// beats, even when its process looks unknown (or like another process) here; gone once the
// heartbeat is older than remoteStaleMs. Two such places: another host (a child in its own
// UTS namespace with another hostname, sharing this file system), and a container that
// shares the host's name but has its own PID namespace (where its pid is small, and names
// some other process here).

import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { hostname } from "node:os";
import { inspect } from "../src/index.js";
import { until } from "./support/agent.js";
import { scenario } from "./support/scenario.js";

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
