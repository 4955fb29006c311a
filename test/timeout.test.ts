// Bounded waits: the explicit API's timeoutMs and the drop-in H5TS_TIMEOUT_MS end a wait
// with a LockTimeoutError that names the file, the mode wanted and every holder.

import { expect } from "chai";
import { realpathSync } from "node:fs";
import { hostname } from "node:os";
import { inspect } from "../src/index.js";
import { until } from "./support/agent.js";
import { scenario } from "./support/scenario.js";

describe("lock timeouts", function () {
  const s = scenario("timeout.h5");
  const start = (where: "thread" | "process", env?: NodeJS.ProcessEnv) => s.start(where, { env });
  let file: string;
  beforeEach(() => (file = s.file));

  it("explicit openFile with timeoutMs: 0 fails at once with every holder listed", async function () {
    const [r1, r2, contender] = [await start("thread"), await start("process"), await start("process")];
    const before = Date.now();
    await r1.do({ cmd: "open", file, mode: "r" });
    await r2.do({ cmd: "open", file, mode: "Sr" });
    const reply = await contender.send({ cmd: "open", via: "explicit", file, mode: "a", options: { timeoutMs: 0 } });
    expect(reply.ok).to.equal(false);
    const e = reply.error!;
    expect(e.name).to.equal("LockTimeoutError");
    expect(e.code).to.equal("ELOCKTIMEOUT");
    expect(e.path).to.equal(realpathSync(file));
    expect(e.lock, "the kind of lock waited for").to.equal("exclusive");
    expect(e.mode, "the mode the user wrote").to.equal("a");
    expect(e.waitedMs, "whole milliseconds").to.satisfy(Number.isInteger);
    const holders = e.holders!.sort((a, b) => a.pid - b.pid);
    expect(holders.map((h) => [h.lock, h.pid, h.host, h.alive])).to.have.deep.members([
      ["shared", process.pid, hostname(), true],
      ["swmr-read", r2.pid, hostname(), true],
    ]);
    const worker = holders.find((h) => h.pid === process.pid)!;
    expect(worker.threadId).to.be.greaterThan(0);
    expect(worker.tid).to.not.equal(process.pid);
    for (const h of holders) expect(h.since).to.be.within(before - 1000, Date.now());
    expect(e.message).to.include(realpathSync(file)).and.include("swmr-read by pid").and.include('an exclusive lock to open it with mode "a"');
    expect(inspect(file).waiters, "the timed-out waiter left no record").to.deep.equal([]);
  });

  it("warns once, naming the file and its holders, when a wait passes warnAfterMs", async function () {
    const holder = await start("thread");
    await holder.do({ cmd: "open", file, mode: "a" });
    const contender = await start("process");
    const reply = await contender.send({ cmd: "open", via: "explicit", file, mode: "r", options: { warnAfterMs: 100, timeoutMs: 600 } });
    expect(reply.error?.code).to.equal("ELOCKTIMEOUT");
    const warnings = contender.stderr.split("\n").filter((l) => l.includes("H5ThreadsafeWarning"));
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.include(file.split("/").pop()!).and.include(`exclusive by pid ${process.pid}`);
  });

  it("drop-in: H5TS_TIMEOUT_MS bounds the wait of new File() with the same error", async function () {
    const holder = await start("thread");
    const h = await holder.do({ cmd: "open", file, mode: "a" });
    const contender = await start("process", { H5TS_TIMEOUT_MS: "300" });
    const t0 = Date.now();
    const reply = await contender.send({ cmd: "open", file, mode: "r" });
    const waited = Date.now() - t0;
    expect(reply.ok).to.equal(false);
    expect(reply.error!.code).to.equal("ELOCKTIMEOUT");
    expect(reply.error!.holders!.map((x) => x.lock)).to.deep.equal(["exclusive"]);
    expect(waited).to.be.at.least(300);
    expect(inspect(file).waiters).to.deep.equal([]);
    // The lock is intact and goes on working.
    await holder.do({ cmd: "close", index: h.index });
    const again = await contender.do({ cmd: "open", file, mode: "r" });
    await contender.do({ cmd: "close", index: again.index });
    expect(inspect(file).holders).to.deep.equal([]);
  });

  it("drop-in: a bad H5TS_TIMEOUT_MS is said once when the patch loads (H5TS_BAD_ENV) and the default used; opens never throw over it", async function () {
    const contender = await start("process", { H5TS_TIMEOUT_MS: "5s" });
    const h = await contender.do({ cmd: "open", file, mode: "r" });
    await contender.do({ cmd: "close", index: h.index });
    const warnings = contender.stderr.split("\n").filter((l) => l.includes("H5TS_BAD_ENV"));
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.include('H5TS_TIMEOUT_MS="5s"');
  });

  it("a synchronous wait on the main thread past 1 s is said once (H5TS_BLOCKING_WAIT), pointing to the async API", async function () {
    const holder = await start("thread");
    const h = await holder.do({ cmd: "open", file, mode: "a" });
    const contender = await start("process");
    const opening = contender.do({ cmd: "open", file, mode: "r" });
    await until(() => contender.stderr.includes("H5TS_BLOCKING_WAIT"), 15_000, "the warning");
    await holder.do({ cmd: "close", index: h.index });
    await contender.do({ cmd: "close", index: (await opening).index });
    // A second wait past 1 s (past 1.5 s, when its long-wait warning comes) is not said again.
    const h2 = await holder.do({ cmd: "open", file, mode: "a" });
    const second = contender.do({ cmd: "open", via: "explicit", file, mode: "r", options: { warnAfterMs: 1500 } });
    await until(() => contender.stderr.includes("H5TS_LONG_WAIT"), 15_000, "the second wait's long-wait warning");
    await holder.do({ cmd: "close", index: h2.index });
    await second;
    const lines = contender.stderr.split("\n").filter((l) => l.includes("H5TS_BLOCKING_WAIT"));
    expect(lines).to.have.length(1);
    expect(lines[0]).to.include("openFileAsync");
  });
});
