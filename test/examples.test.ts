// The two ported PyTables examples compute the right mean on a file whose mean is known,
// for a 2-D array and a 3-D one at a nested path, with several thread counts.

import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import h5wasm from "h5wasm/node";
import { tempDir } from "./support/files.js";

const example = (name: string) => fileURLToPath(new URL(`../examples/${name}.js`, import.meta.url));

describe("the ported PyTables examples", function () {
  let tmp: ReturnType<typeof tempDir>;
  before(async () => {
    tmp = tempDir();
    await h5wasm.ready;
    const f = new h5wasm.File(join(tmp.dir, "known.h5"), "w");
    // 0..9999 as 100x100: mean 4999.5; 0..104 as 7x5x3 under a group: mean 52.
    f.create_dataset({ name: "array", data: Float64Array.from({ length: 10_000 }, (_, i) => i), shape: [100, 100] });
    f.create_group("deep").create_dataset({ name: "cube", data: Int32Array.from({ length: 105 }, (_, i) => i), shape: [7, 5, 3] });
    f.close();
  });
  after(() => tmp.cleanup());

  for (const name of ["simple_threading", "threading_monkeypatch"]) {
    it(`${name} prints the mean over all elements`, function () {
      const file = join(tmp.dir, "known.h5");
      for (const [h5path, threads, mean] of [
        ["/array", "5", "4999.5"],
        ["/array", "3", "4999.5"],
        ["/deep/cube", "4", "52"],
      ]) {
        const r = spawnSync(process.execPath, [example(name), file, h5path, threads], { encoding: "utf8" });
        expect(r.status, r.stderr).to.equal(0);
        expect(r.stdout).to.equal(`Mean: ${mean}\n`);
      }
    });

    it(`${name} creates a 100x100 random array when the file is missing (mean near 0.5)`, function () {
      const file = join(tmp.dir, `${name}-new.h5`);
      const r = spawnSync(process.execPath, [example(name), file], { encoding: "utf8" });
      expect(r.status, r.stderr).to.equal(0);
      const mean = Number(/^Mean: (.*)\n$/.exec(r.stdout)![1]);
      expect(mean).to.be.within(0.45, 0.55);
    });
  }

  it("run without a file argument, the examples leave nothing behind: not in their working folder, not in the temporary folder", function () {
    const cwd = join(tmp.dir, "cwd");
    mkdirSync(cwd);
    const ours = () => readdirSync(tmpdir()).filter((n) => n.startsWith("h5-threadsafe-example-"));
    const before = ours();
    for (const name of ["simple_threading", "threading_monkeypatch", "worker_pool", "pool"]) {
      const r = spawnSync(process.execPath, [example(name)], { cwd, encoding: "utf8" });
      expect(r.status, r.stderr).to.equal(0);
      expect(readdirSync(cwd), name).to.deep.equal([]);
    }
    expect(ours()).to.deep.equal(before);
  });

  it("the piscina pool example: reads during appends each see a whole prefix, and every append is there", function () {
    const r = spawnSync(process.execPath, [example("pool"), join(tmp.dir, "pool.h5"), "2", "30"], { encoding: "utf8" });
    expect(r.status, r.stdout + r.stderr).to.equal(0);
    expect(r.stdout).to.match(/each a whole prefix/).and.match(/final: 30 of 30 appends, 1, 2, 3, \.\.\. in order/);
  });
});
