// Waking the waiters of this process (src/lock/wake.ts): a release in any thread wakes a
// waiter at once, whether it blocks (Atomics.wait) or awaits (openFileAsync, acquire()).

import { expect } from "chai";
import { Worker } from "node:worker_threads";
import { generation, prepareWake, sleepUntilWokenAsync, wakeAll } from "../../src/lock/wake.js";

const WAKE_URL = new URL("../../src/lock/wake.js", import.meta.url).href;

describe("waking waiters of this process", function () {
  this.timeout(20_000);
  before(() => prepareWake()); // the counters are shared with workers started from now on

  it("an async sleep ends when another thread lets something go, long before its time (it slept its whole pause)", async function () {
    const seen = generation();
    const woken = sleepUntilWokenAsync(seen, 60_000); // longer than this test may take
    const w = new Worker(`import(${JSON.stringify(WAKE_URL)}).then((m) => m.wakeAll());`, { eval: true });
    await woken;
    expect(generation()).to.not.equal(seen);
    await w.terminate();
  });

  it("an async sleep whose counter moved since it was read ends at once", async function () {
    const seen = generation();
    wakeAll();
    await sleepUntilWokenAsync(seen, 60_000);
  });

  it("without a wake, it does not end before its time", async function () {
    const seen = generation();
    let ended = false;
    const sleeping = sleepUntilWokenAsync(seen, 60_000).then(() => (ended = true));
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve)); // turns of the loop, no wake
    expect(ended).to.equal(false);
    wakeAll();
    await sleeping;
  });
});
