// The rule for a thread's lock, against h5wasm itself: every sequence of up to four opens,
// closes and start_swmr_write in one thread (see test/fixtures/sequences.ts).

import { expect } from "chai";
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { scenario } from "../support/scenario.js";

const SEQUENCES = fileURLToPath(new URL("../fixtures/sequences.js", import.meta.url));

describe("a thread's lock over every sequence of opens and closes", function () {
  const s = scenario("seq.h5");

  it("is never below what HDF5 was asked for, until the last handle closes; reopens go as the table says", async function () {
    this.timeout(180_000);
    const out = await new Promise<any>((resolve, reject) => {
      // stderr dropped: refused reopens make HDF5 print its diagnostics.
      const c = fork(SEQUENCES, [s.file, "4"], { stdio: ["ignore", "inherit", "pipe", "ipc"] });
      c.stderr!.resume();
      c.on("message", resolve);
      c.on("exit", (code) => reject(new Error(`the sequence probe exited ${code} without a result`)));
    });
    expect(out.mismatches, `${out.mismatchCount} mismatches`).to.deep.equal([]);
    expect(out.sequences).to.be.greaterThan(1500);
    expect(out.refused, "HDF5 refused some reopens (the table's other side was exercised)").to.be.greaterThan(100);
  });
});
