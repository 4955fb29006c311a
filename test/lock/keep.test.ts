// Keeping released things a while (src/lock/keep.ts), and what it means for a released
// record: the thread's next open reuses it; after the window, record and folder are gone.
// (The explicit API: the test process itself stays unpatched.)

import { expect } from "chai";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import h5wasm from "h5wasm/node";
import { openFile } from "../../src/index.js";
import { IDLE_MS } from "../../src/lock/idle.js";
import { Keep } from "../../src/lock/keep.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("keeping released things a while", function () {
  it("keeps at most `max`, disposing of the oldest, and of one put again under its key", function () {
    const gone: string[] = [];
    const keep = new Keep<string>({ max: 2, keepMs: 10_000 }, (v) => gone.push(v));
    keep.put("a", "a1");
    keep.put("a", "a2");
    keep.put("b", "b1");
    keep.put("c", "c1");
    expect(gone).to.deep.equal(["a1", "a2"]);
    expect(keep.take("b")).to.equal("b1");
    expect(keep.take("b")).to.equal(undefined);
    expect(keep.clear()).to.deep.equal(["c1"]);
    expect(keep.size).to.equal(0);
  });

  it("disposes of each once kept `keepMs` (never before), the older first", async function () {
    const gone: { v: string; at: number }[] = [];
    const keep = new Keep<string>({ max: 10, keepMs: 40 }, (v) => gone.push({ v, at: performance.now() }));
    const putAt = { a: performance.now(), b: 0 };
    keep.put("a", "a");
    await sleep(25);
    putAt.b = performance.now();
    keep.put("b", "b");
    while (gone.length < 2) await sleep(5);
    expect(gone.map((g) => g.v)).to.deep.equal(["a", "b"]);
    // Timers may fire up to a millisecond early (rounding); never a whole window early.
    for (const g of gone) expect(g.at - putAt[g.v as "a" | "b"]).to.be.at.least(39);
  });

  it("a released record stays (free) for the window, serves the next open, and then goes with its folder", async function () {
    await h5wasm.ready;
    const dir = mkdtempSync(join(tmpdir(), "h5ts-keep-"));
    try {
      const file = join(dir, "k.h5");
      openFile(file, "w").close();
      const folder = join(dir, ".k.h5.h5ts");
      const names = () => (existsSync(folder) ? readdirSync(folder) : []);
      await sleep(IDLE_MS * 2); // the w's idle record (exclusive) goes first
      expect(existsSync(folder)).to.equal(false);
      openFile(file, "r").close();
      const first = names();
      expect(first, "one idle record after the close").to.have.length(1);
      for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r)); // turns of the event loop later, as a server's next request
      openFile(file, "r").close();
      expect(names(), "the same record, reused").to.deep.equal(first);
      await sleep(IDLE_MS * 2);
      expect(existsSync(folder), "record and folder removed after the window").to.equal(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
