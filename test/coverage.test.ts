// Every worker covered: with the patch imported in the main file only, plain workers, a
// piscina pool and a forked process whose code imports h5wasm alone append to one file
// beside the main thread, and nothing is lost. A worker that never loads h5wasm pays
// nothing for it (start time and memory, in the test's title).

import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { splitNodeOptions } from "../src/coverage/children.js";
import { nativeLocking } from "../src/native/flock.js";
import { tempDir } from "./support/files.js";

const APP = fileURLToPath(new URL("./fixtures/coverage-app.js", import.meta.url));
const PRELOAD = fileURLToPath(new URL("../src/coverage/preload.js", import.meta.url));
const REGISTER = fileURLToPath(new URL("../src/register.js", import.meta.url));

function run(args: string[], execArgv: string[] = [], env: NodeJS.ProcessEnv = {}): { expected: number; present: number; failed: number; workerFlags: string[] } {
  const r = spawnSync(process.execPath, [...execArgv, APP, ...args], { encoding: "utf8", timeout: 120_000, env: { ...process.env, ...env } });
  const line = r.stdout.trim().split("\n").pop() ?? "";
  expect(r.status, r.stderr.slice(-2000)).to.equal(0);
  return JSON.parse(line);
}

describe("every worker covered", function () {
  this.timeout(180_000);
  let tmp: ReturnType<typeof tempDir>;
  before(() => (tmp = tempDir()));
  after(() => tmp.cleanup());

  it("patch imported in the main file only: plain workers, a piscina pool and a forked process lose no append (without the patch: in the title)", function () {
    const covered = run(["patched", join(tmp.dir, "covered.h5")]);
    expect(covered.failed).to.equal(0);
    expect(covered.present).to.equal(covered.expected);
    const bare = run(["bare", join(tmp.dir, "bare.h5")]);
    this.test!.title += ` [without the patch: ${bare.present < 0 ? "the file could not be opened" : `${bare.present} of ${bare.expected}`}]`;
  });

  it("flags from NODE_OPTIONS reach the workers as they did (given explicitly now); one that imports the patch leaves them as they are", function () {
    expect(splitNodeOptions('--enable-source-maps  --require "./my dir/x.js" --title="a \\"b\\" c"')).to.deep.equal(["--enable-source-maps", "--require", "./my dir/x.js", '--title=a "b" c']);
    const withSourceMaps = run(["patched", join(tmp.dir, "node-options.h5")], [], { NODE_OPTIONS: "--enable-source-maps" });
    expect(withSourceMaps.present).to.equal(withSourceMaps.expected);
    expect(withSourceMaps.workerFlags).to.include("--enable-source-maps").and.include("--import");
    const eager = run(["inherited", join(tmp.dir, "node-options-eager.h5")], [], { NODE_OPTIONS: `--import ${REGISTER}` });
    expect(eager.present).to.equal(eager.expected);
    expect(eager.workerFlags.join(" "), "inherited as they are").to.not.include("preload.js");
  });

  it("node --import h5-threadsafe/patch: the same, and the workers get the lazy preload instead of the eager import", function () {
    const covered = run(["inherited", join(tmp.dir, "inherited.h5")], ["--import", REGISTER]);
    expect(covered.present).to.equal(covered.expected);
    expect(covered.workerFlags.join(" ")).to.include("preload.js").and.not.include("register.js");
  });

  it("a worker that never loads h5wasm starts as it would without the patch (figures in the title); an eval worker is said to be uncovered", async function () {
    const script = join(tmp.dir, "idle-worker.mjs");
    writeFileSync(script, "import { parentPort } from 'node:worker_threads';\nparentPort.postMessage('onRuntimeInitialized' in {} && !Object.keys(globalThis).some((k) => k.includes('h5')));\n");
    const start = async (execArgv: string[]) => {
      const t0 = performance.now();
      const w = new Worker(script, { execArgv });
      const answer = await new Promise((r) => w.once("message", r));
      const ms = performance.now() - t0;
      await w.terminate();
      return { ms, answer };
    };
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1];
    const times: Record<string, number[]> = { plain: [], preload: [], eager: [] };
    for (let i = 0; i < 5; i++) {
      times.plain.push((await start([])).ms);
      const withPreload = await start(["--import", PRELOAD]);
      expect(withPreload.answer, "the preload sets its trap and nothing else").to.equal(true);
      times.preload.push(withPreload.ms);
      times.eager.push((await start(["--import", REGISTER])).ms);
    }
    this.test!.title += ` [start, median of 5: plain ${median(times.plain).toFixed(0)} ms, with the preload ${median(times.preload).toFixed(0)} ms, with an eager import of the patch ${median(times.eager).toFixed(0)} ms]`;

    const app = join(tmp.dir, "eval-app.mjs");
    writeFileSync(app, `import ${JSON.stringify(REGISTER)};\nimport { Worker } from "node:worker_threads";\nconst w = new Worker("1", { eval: true });\nw.on("exit", () => {});\n`);
    const r = spawnSync(process.execPath, [app], { encoding: "utf8" });
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr.match(/H5TS_UNCOVERED/g)?.length).to.equal(1);
  });
});

const INDEX = fileURLToPath(new URL("../src/index.js", import.meta.url));
const H5WASM = JSON.stringify(import.meta.resolve("h5wasm/node"));

/**
 * Runs `lines` (an ES module) as a worker started by a patched main thread, in a folder of
 * its own (`dir` in the lines' maker); returns the worker's one message and the stderr.
 */
function coveredWorker(lines: (dir: string) => string[]): { message: unknown; stderr: string } {
  const tmp = tempDir();
  try {
    const worker = join(tmp.dir, "worker.mjs");
    writeFileSync(worker, lines(tmp.dir).join("\n"));
    const app = join(tmp.dir, "app.mjs");
    writeFileSync(app, `import ${JSON.stringify(REGISTER)};\nimport { Worker } from "node:worker_threads";\nnew Worker(${JSON.stringify(worker)}).on("message", (m) => console.log(JSON.stringify(m)));\n`);
    const r = spawnSync(process.execPath, [app], { encoding: "utf8", timeout: 60_000 });
    expect(r.status, r.stderr).to.equal(0);
    return { message: JSON.parse(r.stdout.trim().split("\n").pop()!), stderr: r.stderr };
  } finally {
    tmp.cleanup();
  }
}

/** Worker lines: open `name` in `dir` for writing, count its holders (`during`), close it, post `{ during, <post> }`. */
const openCountClose = (dir: string, name: string, post: string) => [
  `const file = ${JSON.stringify(join(dir, name))};`,
  `const f = new h5wasm.File(file, "w");`,
  `const during = inspect(file).holders.length;`,
  `f.close();`,
  `parentPort.postMessage({ during, ${post} });`,
];

describe("a worker that imports h5wasm and then this package itself, dynamically", function () {
  it("is covered: the patch is applied at h5wasm's first open (require() cannot take the package while that import loads it)", function () {
    // The worker's import of the package is still loading when h5wasm's runtime starts: the
    // preload's synchronous require() of the patch fails then (without the deferral: the
    // worker ran unlocked, with H5TS_UNCOVERED "request for 'node:worker_threads' is not in cache").
    const { message, stderr } = coveredWorker((dir) => [
      `import { parentPort } from "node:worker_threads";`,
      `import { existsSync } from "node:fs";`,
      `const h5wasm = (await import(${H5WASM})).default;`,
      `await import(${JSON.stringify(INDEX)});`,
      `await h5wasm.ready;`,
      `const f = new h5wasm.File(${JSON.stringify(join(dir, "d.h5"))}, "w");`,
      `parentPort.postMessage({ locked: existsSync(${JSON.stringify(join(dir, ".d.h5.h5ts"))}) });`,
      `f.close();`,
    ]);
    expect(stderr.split("\n").filter((l) => l.includes("H5TS_UNCOVERED"))).to.deep.equal([]);
    expect(message).to.deep.equal({ locked: true });
  });

  it("and calls patch() itself: lets go of the lock at close, and HDF5 prints nothing at the worker's exit", function () {
    // h5wasm's runtime starts while the worker's import of the package loads: the preload
    // defers the patch to h5wasm's first use (stand-ins for open and close). The worker's own
    // patch() then wrapped those stand-ins, and the first open put h5wasm's originals back
    // over the wrappers: the open was locked, the close was not. The lock stayed held until
    // the worker ended, and its exit closed the handle again (HDF5-DIAG "can't locate ID").
    const { message, stderr } = coveredWorker((dir) => [
      `import { parentPort } from "node:worker_threads";`,
      `const h5wasm = (await import(${H5WASM})).default;`,
      `const { patch, inspect } = await import(${JSON.stringify(INDEX)});`,
      `await h5wasm.ready;`,
      `await patch();`,
      ...openCountClose(dir, "p.h5", "after: inspect(file).holders.length"),
    ]);
    expect(message).to.deep.equal({ during: 1, after: 0 });
    expect(stderr, "HDF5 said nothing").to.not.include("HDF5-DIAG");
  });

  it("and calls unpatch() before any open: stays unpatched (the preload's deferred patch does not come back at the first open)", function () {
    const { message } = coveredWorker((dir) => [
      `import { parentPort } from "node:worker_threads";`,
      `const h5wasm = (await import(${H5WASM})).default;`,
      `const { unpatch, inspect, isPatched } = await import(${JSON.stringify(INDEX)});`,
      `await h5wasm.ready;`,
      `unpatch();`,
      ...openCountClose(dir, "u.h5", "patched: isPatched()"),
    ]);
    expect(message).to.deep.equal({ during: 0, patched: false });
  });
});

describe("a covered worker's unpatch() and h5wasm's other build", function () {
  it("unpatch() before h5wasm's runtime starts holds: the preload's trap does not patch it afterwards", function () {
    const { message } = coveredWorker((dir) => [
      `import { parentPort } from "node:worker_threads";`,
      `import h5wasm from ${H5WASM};`,
      `import { unpatch, isPatched, inspect } from ${JSON.stringify(INDEX)};`,
      `unpatch();`,
      `await h5wasm.ready;`,
      ...openCountClose(dir, "t.h5", "patched: isPatched()"),
    ]);
    expect(message).to.deep.equal({ during: 0, patched: false });
  });

  it("h5wasm's in-memory build started first is left alone, and the Node build is still locked", function () {
    // The trap patched the first h5wasm module that started: the in-memory build's opens
    // then locked real paths (and made a real empty file to flock), and the Node build,
    // loaded after, was never patched.
    const { message } = coveredWorker((dir) => [
      `import { parentPort } from "node:worker_threads";`,
      `import { existsSync } from "node:fs";`,
      // Not index.js: it loads the Node build (patch.ts imports it), whose runtime would start first.
      `import { inspect } from ${JSON.stringify(fileURLToPath(new URL("../src/lock/inspect.js", import.meta.url)))};`,
      `const web = (await import(${JSON.stringify(import.meta.resolve("h5wasm"))})).default;`,
      `await web.ready;`,
      `const h5wasm = (await import(${H5WASM})).default;`,
      `await h5wasm.ready;`,
      `const file = ${JSON.stringify(join(dir, "n.h5"))};`,
      `const f = new h5wasm.File(file, "w");`,
      `const nodeBuild = inspect(file).holders.length;`,
      `f.close();`,
      `const inMemory = ${JSON.stringify(join(dir, "m.h5"))};`,
      `const m = new web.File(inMemory, "w");`,
      `const memoryHolders = inspect(inMemory).holders.length;`,
      `m.close();`,
      `parentPort.postMessage({ nodeBuild, memoryHolders, realFileMade: existsSync(inMemory) });`,
    ]);
    expect(message).to.deep.equal({ nodeBuild: 1, memoryHolders: 0, realFileMade: false });
  });
});

describe("covered children of covered threads", function () {
  it("a covered worker that never loads h5wasm starts its own worker with flags of its own: that one is covered", function () {
    // Before, Worker and fork were wrapped only once a thread loaded h5wasm: a dispatcher
    // worker's explicit execArgv dropped the inherited preload, and the inner worker ran unlocked.
    const { message } = coveredWorker((dir) => [
      `import { parentPort, Worker } from "node:worker_threads";`,
      `import { writeFileSync } from "node:fs";`,
      `const inner = ${JSON.stringify(join(dir, "inner.mjs"))};`,
      `writeFileSync(inner, [`,
      `  'import { parentPort } from "node:worker_threads";',`,
      `  'import h5wasm from ' + ${JSON.stringify(H5WASM)} + ';',`,
      `  'import { inspect } from ' + ${JSON.stringify(JSON.stringify(fileURLToPath(new URL("../src/lock/inspect.js", import.meta.url))))} + ';',`,
      `  'await h5wasm.ready;',`,
      `  'const file = ' + ${JSON.stringify(JSON.stringify(join(dir, "i.h5")))} + ';',`,
      `  'const f = new h5wasm.File(file, "w"); const holders = inspect(file).holders.length; f.close();',`,
      `  'parentPort.postMessage({ holders });',`,
      `].join("\\n"));`,
      `new Worker(inner, { execArgv: [] }).on("message", (m) => parentPort.postMessage(m));`,
    ]);
    expect(message).to.deep.equal({ holders: 1 });
  });

  it("flags Node refuses to give a worker (--expose-gc): the worker is covered without them, and nothing is said", function () {
    // They are the whole process's (V8's) flags: the worker has them anyway. Before, the
    // worker was started with its inherited flags: covered with \`node --import
    // h5-threadsafe/patch\` but with a false H5TS_UNCOVERED warning, and uncovered (warned)
    // with the patch imported by the main file.
    const tmp = tempDir();
    try {
      const worker = join(tmp.dir, "gc-worker.mjs");
      writeFileSync(
        worker,
        [
          `import { parentPort } from "node:worker_threads";`,
          `import h5wasm from ${H5WASM};`,
          `import { inspect } from ${JSON.stringify(fileURLToPath(new URL("../src/lock/inspect.js", import.meta.url)))};`,
          `await h5wasm.ready;`,
          `const file = ${JSON.stringify(join(tmp.dir, "g.h5"))};`,
          `const f = new h5wasm.File(file, "w"); const holders = inspect(file).holders.length; f.close();`,
          `parentPort.postMessage({ holders, gc: typeof globalThis.gc });`,
        ].join("\n"),
      );
      const start = `import { Worker } from "node:worker_threads";\nnew Worker(${JSON.stringify(worker)}).on("message", (m) => console.log(JSON.stringify(m)));\n`;
      const plain = join(tmp.dir, "plain-app.mjs");
      writeFileSync(plain, start);
      const importing = join(tmp.dir, "importing-app.mjs");
      writeFileSync(importing, `import ${JSON.stringify(REGISTER)};\n${start}`);
      for (const argv of [["--expose-gc", "--import", REGISTER, plain], ["--expose-gc", importing]]) {
        const r = spawnSync(process.execPath, argv, { encoding: "utf8", timeout: 60_000 });
        expect(r.status, r.stderr).to.equal(0);
        expect(r.stderr, argv.join(" ")).to.not.include("H5TS_UNCOVERED");
        expect(JSON.parse(r.stdout.trim().split("\n").pop()!), argv.join(" ")).to.deep.equal({ holders: 1, gc: "function" });
      }
    } finally {
      tmp.cleanup();
    }
  });
});

describe("terminating a worker while koffi loads in it", function () {
  it("never aborts the process: terminate() of a worker started by a patched thread waits for the load (~10 ms)", function () {
    // Without the wait, koffi's load in a thread being terminated is a fatal error (SIGABRT,
    // exit 134): koffi issue #190. Run by hand without the patch, this program aborted.
    if (!nativeLocking().enabled) this.skip(); // no koffi here: nothing loads
    const FIXTURE = fileURLToPath(new URL("./fixtures/terminate-loading.js", import.meta.url));
    const r = spawnSync(process.execPath, ["--import", REGISTER, FIXTURE, "30"], { encoding: "utf8", timeout: 60_000 });
    expect(r.signal, r.stderr).to.equal(null);
    expect(r.status, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout.trim().split("\n").pop()!).terminated).to.equal(30);
  });
});
