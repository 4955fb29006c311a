// The explicit API: typed errors where h5wasm fails silently, per-call options, withFile,
// async waiting that leaves the event loop free, and `using`. Nothing it refuses leaves a
// lock or a file behind. Runs in the (unpatched) test process: the API patches nothing.

import { expect } from "chai";
import { mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import h5wasm from "h5wasm/node";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { FileOpenError, InvalidArgumentError, LockTimeoutError, inspect, openFile, openFileAsync, withFile, withFileAsync } from "../src/index.js";
import { until } from "./support/agent.js";
import { scenario } from "./support/scenario.js";

describe("explicit API", function () {
  const s = scenario("good.h5");
  let good: string;
  before(async () => {
    await h5wasm.ready;
  });
  beforeEach(() => (good = s.file));

  const failsWith = (fn: () => unknown, type: Function, code: string) => {
    const before = readdirSync(s.dir).sort();
    let error: any;
    try {
      fn();
    } catch (e) {
      error = e;
    }
    expect(error, `expected ${code}`).to.be.instanceOf(type);
    expect(error.code).to.equal(code);
    expect(readdirSync(s.dir).sort(), "nothing left behind").to.deep.equal(before);
    return error;
  };

  it("gives a typed error, and leaves nothing behind, for each bad input", function () {
    const missing = join(s.dir, "missing.h5");
    let e = failsWith(() => openFile(missing, "r"), FileOpenError, "ENOENT");
    expect(e.path).to.equal(missing);
    expect(e.mode).to.equal("r");
    expect(e.message).to.include(missing);
    failsWith(() => openFile(missing, "a"), FileOpenError, "ENOENT");
    failsWith(() => openFile(missing, "Sr"), FileOpenError, "ENOENT");
    mkdirSync(join(s.dir, "folder.h5"));
    failsWith(() => openFile(join(s.dir, "folder.h5"), "r"), FileOpenError, "EISDIR");
    writeFileSync(join(s.dir, "text.h5"), "just some text, not HDF5\n");
    failsWith(() => openFile(join(s.dir, "text.h5"), "r"), FileOpenError, "ENOTHDF5");
    failsWith(() => openFile(good, "rw" as never), FileOpenError, "EINVALMODE");
    failsWith(() => openFile(good, "x"), FileOpenError, "EEXIST");
    failsWith(() => openFile(join(s.dir, "no", "such", "dir.h5"), "w"), FileOpenError, "ENOENT");
    e = failsWith(() => openFile("", "r"), InvalidArgumentError, "EINVALIDARG");
    expect(e.option).to.equal("path");
    e = failsWith(() => openFile(good, "r", { timeoutMs: -1 }), InvalidArgumentError, "EINVALIDARG");
    expect(e.option).to.equal("options.timeoutMs");
    e = failsWith(() => openFile(good, "r", { timout: 5 } as never), InvalidArgumentError, "EINVALIDARG");
    expect(e.option).to.equal("options.timout");
  });

  it("reports a truncated HDF5 file as EOPEN, with HDF5's exception as cause under the throwing handler", async function () {
    const truncated = join(s.dir, "truncated.h5");
    writeFileSync(truncated, readFileSync(good).subarray(0, 600));
    let e = failsWith(() => openFile(truncated, "r"), FileOpenError, "EOPEN");
    expect(e.message).to.include("truncated.h5");
    const M = await h5wasm.ready;
    M.activate_throwing_error_handler();
    try {
      e = failsWith(() => openFile(truncated, "a"), FileOpenError, "EOPEN");
      expect(String(e.cause)).to.include("H5Fopen(): unable to synchronously open file");
    } finally {
      M.deactivate_throwing_error_handler();
    }
  });

  it("refuses an incompatible reopen in the same thread with EREOPEN, and joins a compatible one", function () {
    const r = openFile(good, "r");
    try {
      const e = failsWith(() => openFile(good, "a"), FileOpenError, "EREOPEN");
      expect(e.message).to.include("shared");
      const r2 = openFile(good, "r");
      expect(inspect(good).holders.map((h) => h.lock)).to.deep.equal(["shared"]);
      r2.close();
    } finally {
      r.close();
    }
    expect(inspect(good).holders).to.deep.equal([]);
  });

  it("opens names with spaces and non-ASCII letters, and symlinks share the file's lock", async function () {
    const odd = join(s.dir, "données d'été ✓.h5");
    const w = openFile(odd, "w");
    w.create_dataset({ name: "x", data: new Float64Array([1, 2]) });
    w.close();
    const link = join(s.dir, "link.h5");
    symlinkSync(odd, link);
    withFile(odd, "r", (f) => {
      expect(f.keys()).to.deep.equal(["x"]);
      using viaLink = openFile(link, "r");
      expect(viaLink.keys()).to.deep.equal(["x"]);
      // One thread, one lock: the reopen through the symlink joined the same lock.
      expect(inspect(link).holders.map((h) => h.lock)).to.deep.equal(["shared"]);
      expect(inspect(link).path).to.equal(inspect(odd).path);
      expect(() => openFile(link, "a")).to.throw(FileOpenError).with.property("code", "EREOPEN");
    });
    // The lock folder goes once its idle record has been kept IDLE_MS (250 ms).
    await until(() => readdirSync(s.dir).length === 3, 5000, "the lock folder to go");
    expect(readdirSync(s.dir).sort()).to.deep.equal(["données d'été ✓.h5", "good.h5", "link.h5"]);
  });

  it("withFile returns fn's value and closes the file, also when fn throws or rejects", async function () {
    expect(withFile(good, "r", (f) => f.keys())).to.deep.equal(["data"]);
    expect(inspect(good).holders).to.deep.equal([]);
    expect(() =>
      withFile(good, "a", () => {
        throw new Error("inside");
      }),
    ).to.throw("inside");
    expect(inspect(good).holders).to.deep.equal([]);
    let rejected: unknown;
    await withFile(good, "a", async () => {
      expect(inspect(good).holders.map((h) => h.lock)).to.deep.equal(["exclusive"]);
      throw new Error("async inside");
    }).catch((e) => (rejected = e));
    expect((rejected as Error).message).to.equal("async inside");
    expect(inspect(good).holders).to.deep.equal([]);
  });

  it("`using` closes an explicit File at the end of the block", function () {
    {
      using f = openFile(good, "a");
      expect(inspect(good).holders.map((h) => h.lock)).to.deep.equal(["exclusive"]);
      void f;
    }
    expect(inspect(good).holders).to.deep.equal([]);
  });

  it("openFileAsync waits without blocking the event loop, and times out with LockTimeoutError", async function () {
    const holder = await s.start("process");
    {
      const h = await holder.do({ cmd: "open", file: good, mode: "a" });
      let ticks = 0;
      const timer = setInterval(() => ticks++, 5);
      const opening = openFileAsync(good, "r");
      await until(() => inspect(good).waiters.length === 1, 15_000, "the async waiter");
      const ticksWhileWaiting = ticks;
      await until(() => ticks >= ticksWhileWaiting + 5, 15_000, "timers to run while waiting");
      await holder.do({ cmd: "close", index: h.index });
      const f = await opening;
      clearInterval(timer);
      expect(inspect(good).holders.map((x) => x.lock)).to.deep.equal(["shared"]);
      f.close();
      await holder.do({ cmd: "open", file: good, mode: "a" });
      let error: unknown;
      await openFileAsync(good, "r", { timeoutMs: 100 }).catch((e) => (error = e));
      expect(error).to.be.instanceOf(LockTimeoutError);
      expect(inspect(good).waiters).to.deep.equal([]);
    }
  });

  it("a signal gives up an async wait (AbortError), leaves no record, and spares the other opens waiting for the same file", async function () {
    const holder = await s.start("process");
    const h = await holder.do({ cmd: "open", file: good, mode: "a" });
    const controller = new AbortController();
    const given = openFileAsync(good, "r", { signal: controller.signal }).then(
      () => "opened",
      (e: Error) => e,
    );
    const kept = openFileAsync(good, "r");
    await until(() => inspect(good).waiters.length === 1, 15_000, "the thread's one request");
    controller.abort();
    const error = (await given) as Error;
    expect(error.name).to.equal("AbortError");
    expect(inspect(good).waiters.length, "the other open still waits").to.equal(1);
    await holder.do({ cmd: "close", index: h.index });
    const f = await kept;
    expect(f.keys()).to.deep.equal(["data"]);
    f.close();

    // Alone, its request goes with it; a signal aborted before the call rejects at once with its reason.
    await holder.do({ cmd: "open", file: good, mode: "a" });
    const alone = new AbortController();
    const waiting = openFileAsync(good, "r", { signal: alone.signal, timeoutMs: 60_000 }).catch((e: Error) => e);
    await until(() => inspect(good).waiters.length === 1, 15_000, "the waiter");
    alone.abort(new Error("gave up"));
    expect(((await waiting) as Error).message).to.equal("gave up");
    expect(inspect(good).waiters, "no record left").to.deep.equal([]);
    let early: unknown;
    await openFileAsync(good, "r", { signal: AbortSignal.abort() }).catch((e) => (early = e));
    expect((early as Error).name).to.equal("AbortError");
    let bad: unknown;
    await openFileAsync(good, "r", { signal: "stop" as never }).catch((e) => (bad = e));
    expect(bad).to.be.instanceOf(InvalidArgumentError);
  });

  it("each async open waits as long as its own timeoutMs, also where opens of one thread share a request (they took the first open's)", async function () {
    const holder = await s.start("process");
    const h = await holder.do({ cmd: "open", file: good, mode: "a" });
    const settle = (p: Promise<{ close(): void }>) =>
      p.then(
        (f) => (f.close(), "opened"),
        (e: Error) => (e instanceof LockTimeoutError ? "timed out" : e.message),
      );
    // Two async opens joining one request, the short timeout first and then second.
    const short1 = settle(openFileAsync(good, "r", { timeoutMs: 150 }));
    const long1 = settle(openFileAsync(good, "r"));
    const long2 = settle(openFileAsync(good, "r"));
    const short2 = settle(openFileAsync(good, "r", { timeoutMs: 150 }));
    expect([await short1, await short2]).to.deep.equal(["timed out", "timed out"]);
    expect(inspect(good).waiters.length, "the others still wait").to.equal(1);
    await holder.do({ cmd: "close", index: h.index });
    expect([await long1, await long2]).to.deep.equal(["opened", "opened"]);
    expect(inspect(good).waiters).to.deep.equal([]);
  });

  it("withFileAsync and `await using` wait without blocking the event loop; many async opens in one thread beside a writer (event-loop lag in the title)", async function () {
    const writer = await s.start("thread");
    const lag = monitorEventLoopDelay({ resolution: 1 });
    lag.enable();
    const writing = writer.do({ cmd: "appendFor", file: good, prefix: "w", ms: 1500 });
    await until(() => inspect(good).holders.length + inspect(good).waiters.length > 0, 15_000, "the writer");
    let reads = 0;
    const requests = Array.from({ length: 40 }, async (_, i) => {
      if (i % 2) {
        await using f = await openFileAsync(good, "r");
        reads += f.keys().includes("data") ? 1 : 0;
      } else {
        const read = await withFileAsync(good, "r", async (f) => (f.keys().includes("data") ? 1 : 0));
        reads += read;
      }
    });
    await Promise.all(requests);
    const appended = ((await writing) as { count: number }).count;
    lag.disable();
    expect(reads).to.equal(40);
    expect(appended).to.be.greaterThan(0);
    expect(inspect(good).holders).to.deep.equal([]);
    this.test!.title += ` [lag p50 ${(lag.percentile(50) / 1e6).toFixed(1)} ms, p99 ${(lag.percentile(99) / 1e6).toFixed(1)} ms, max ${(lag.max / 1e6).toFixed(1)} ms]`;
    // fn's rejection closes the file and comes back as it was.
    let error: unknown;
    await withFileAsync(good, "a", async () => {
      throw new Error("inside");
    }).catch((e) => (error = e));
    expect((error as Error).message).to.equal("inside");
    expect(inspect(good).holders).to.deep.equal([]);
  });
});
