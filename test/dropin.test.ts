// Drop-in means drop-in: the same h5wasm calls in a patched and a bare child process give
// the same results, the same exceptions and the same stderr, and a failed or throwing
// open leaves no lock behind.

import { expect } from "chai";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { inspect } from "../src/index.js";
import { Agent, type Command } from "./support/agent.js";
import type { Via } from "./support/commands.js";
import { makeH5, tempDir } from "./support/files.js";

describe("drop-in: patched and bare h5wasm behave alike", function () {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = tempDir()));
  afterEach(() => tmp.cleanup());

  async function runBoth(steps: (dir: string) => Command[]) {
    const out = [];
    for (const patch of [false, true]) {
      const dir = join(tmp.dir, patch ? "patched" : "bare");
      (await import("node:fs")).mkdirSync(dir);
      await makeH5(join(dir, "good.h5"));
      writeFileSync(join(dir, "text.h5"), "not HDF5 at all\n");
      writeFileSync(join(dir, "truncated.h5"), readFileSync(join(dir, "good.h5")).subarray(0, 700));
      const a = new Agent("process", { patch });
      const replies = [];
      for (const step of steps(dir)) {
        const r = await a.send(step);
        // Paths differ between the two folders; results are compared without them.
        replies.push(JSON.parse(JSON.stringify(r).replaceAll(dir, "<dir>")));
      }
      await a.exit();
      // HDF5 stamps some diagnostics with the time of day.
      const stderr = a.stderr.replaceAll(dir, "<dir>").replace(/time = [^,]+,/g, "time = <t>,");
      out.push({ replies, stderr, files: readdirSync(dir).sort() });
      expect(inspect(join(dir, "good.h5")).holders).to.deep.equal([]);
    }
    return out;
  }

  const open = (file: string, mode: string, via: Via = "default"): Command => ({ cmd: "open", file, mode, via });
  const close = (index: number): Command => ({ cmd: "close", index });

  it("failed opens return file_id -1n, print the same diagnostics, and leave no lock", async function () {
    const [bare, patched] = await runBoth((dir) => [
      open(join(dir, "missing.h5"), "r"),
      open(join(dir, "missing.h5"), "a"),
      open(join(dir, "no-such-dir", "x.h5"), "w"),
      open(dir, "r"),
      open(join(dir, "good.h5"), "x"),
      open("", "r"),
      open(join(dir, "good.h5"), "bogus"),
      open(join(dir, "missing.h5"), "r", "named"),
      open(join(dir, "missing.h5"), "r", "module"),
      open(join(dir, "good.h5"), "a"), // index 8: the bogus mode threw, so it has none
      close(8),
      open(join(dir, "text.h5"), "r"),
      open(join(dir, "text.h5"), "a"),
      open(join(dir, "truncated.h5"), "r"),
      open(join(dir, "truncated.h5"), "Sr"),
      open(join(dir, "données d'été ✓.h5"), "w"), // index 13
      close(13),
      open(join(dir, "données d'été ✓.h5"), "r"),
      close(14),
    ]);
    expect(bare.replies.slice(0, 5).map((r: any) => r.value?.fileId)).to.deep.equal(["-1", "-1", "-1", "-1", "-1"]);
    expect(patched.replies).to.deep.equal(bare.replies);
    expect(patched.files).to.deep.equal(bare.files);
    expect(patched.stderr).to.equal(bare.stderr);
    expect(patched.stderr).to.include("HDF5-DIAG");
  });

  it("under the throwing error handler, the same exceptions with the same messages", async function () {
    const [bare, patched] = await runBoth((dir) => [
      { cmd: "throwing", on: true },
      open(join(dir, "missing.h5"), "r"),
      open(join(dir, "missing.h5"), "Sa"),
      open(join(dir, "no-such-dir", "x.h5"), "w"),
      open(join(dir, "good.h5"), "x"),
      open(join(dir, "good.h5"), "bogus"),
      open(dir, "a"),
      open("", "r"),
      open(join(dir, "text.h5"), "r"),
      open(join(dir, "truncated.h5"), "a"),
      open(join(dir, "missing.h5"), "r", "named"),
      open(join(dir, "missing.h5"), "r", "subclass"),
      open(join(dir, "good.h5"), "r"),
      close(0),
    ]);
    for (const i of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]) expect(bare.replies[i].ok, `step ${i}`).to.equal(false);
    expect(bare.replies[1].ok).to.equal(false);
    expect(bare.replies[1].error.message).to.include("H5Fopen(): unable to synchronously open file");
    expect(patched.replies).to.deep.equal(bare.replies);
    expect(patched.files).to.deep.equal(bare.files);
    expect(patched.stderr).to.equal(bare.stderr);
  });

});
