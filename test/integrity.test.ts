// No lost appends and no torn reads with the patch, across worker threads and processes,
// for every style of h5wasm code; and the losses without it, on the same workload.

import { expect } from "chai";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import h5wasm from "h5wasm/node";
import { tempDir } from "./support/files.js";

const APPENDER = fileURLToPath(new URL("./fixtures/appender.js", import.meta.url));
const READER = fileURLToPath(new URL("./fixtures/rewriter.js", import.meta.url));
const INSTALL = fileURLToPath(new URL("../src/register.js", import.meta.url));

function run(script: string, args: string[], patched: boolean): Promise<{ code: number | null; stderr: string }> {
  const execArgv = patched ? ["--import", INSTALL] : [];
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [...execArgv, script, ...args], { stdio: ["ignore", "inherit", "pipe"] });
    let stderr = "";
    c.stderr.on("data", (d) => (stderr += d));
    c.on("error", reject);
    c.on("exit", (code) => resolve({ code, stderr }));
  });
}

async function keysOf(file: string): Promise<string[]> {
  await h5wasm.ready;
  const f = new h5wasm.File(file, "r");
  try {
    return f.file_id < 0n ? [] : f.keys();
  } catch {
    return []; // a file too damaged to list has lost everything
  } finally {
    f.close();
  }
}

describe("data integrity under concurrency", function () {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = tempDir()));
  afterEach(() => tmp.cleanup());

  async function appendRun(patched: boolean, processes: number, workers: number, count: number) {
    const file = join(tmp.dir, `appends-${patched}.h5`);
    await h5wasm.ready;
    new h5wasm.File(file, "w").close();
    const runs = await Promise.all(
      Array.from({ length: processes }, (_, p) => run(APPENDER, [file, `p${p}`, String(count), String(workers), "default,named,subclass"], patched)),
    );
    return { runs, present: (await keysOf(file)).length, expected: processes * workers * count };
  }

  it("patched: 2 processes x 3 workers (default, named, subclass) lose no append", async function () {
    const { runs, present, expected } = await appendRun(true, 2, 3, 15);
    for (const r of runs) expect(r.code).to.equal(0);
    expect(present).to.equal(expected);
    for (const r of runs) expect(r.stderr).to.not.include("HDF5-DIAG");
  });

  it("bare h5wasm on the same workload loses appends (the failure the patch prevents)", async function () {
    const { present, expected } = await appendRun(false, 2, 3, 15);
    expect(present).to.be.lessThan(expected);
  });

  it("patched: readers never see a torn rewrite, across threads and processes", async function () {
    const file = join(tmp.dir, "rewrite.h5");
    await h5wasm.ready;
    const f = new h5wasm.File(file, "w");
    f.create_dataset({ name: "counter", data: new Float64Array(1000) });
    f.close();
    // 2 processes, each with 1 rewriting worker and 2 reading workers.
    const runs = await Promise.all([0, 1].map((p) => run(READER, [file, String(p), "12", "30"], true)));
    for (const r of runs) {
      expect(r.code, r.stderr).to.equal(0);
      const stats = JSON.parse(r.stderr.trim().split("\n").pop()!);
      expect(stats.reads).to.be.greaterThan(0);
      expect(stats.torn, "torn reads").to.equal(0);
      expect(stats.failed, "failed reads").to.equal(0);
    }
  });
});
