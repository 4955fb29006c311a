// What is left open when a thread or process ends is closed by the registry, so an
// unclosed writer's data is saved; without the patch the same program leaves a file
// HDF5 cannot read. A signal still kills the process, after the files are closed.

import { expect } from "chai";
import { spawn, spawnSync } from "node:child_process";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { constants } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import h5wasm from "h5wasm/node";
import { inspect } from "../src/index.js";
import { until } from "./support/agent.js";
import { tempDir } from "./support/files.js";
import { scenario } from "./support/scenario.js";

const WRITER = fileURLToPath(new URL("./fixtures/unclosed-writer.js", import.meta.url));
const INSTALL = fileURLToPath(new URL("../src/register.js", import.meta.url));

function runWriter(file: string, how: string, patched: boolean, signal?: NodeJS.Signals, env?: NodeJS.ProcessEnv, other?: string) {
  return new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string }>((resolve, reject) => {
    const c = spawn(process.execPath, [...(patched ? ["--import", INSTALL] : []), WRITER, file, how, ...(other ? [other] : [])], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
    let stderr = "";
    let stdout = "";
    c.stderr.on("data", (d) => (stderr += d));
    c.stdout.on("data", (d) => {
      stdout += d;
      if (signal && String(d).includes("ready")) c.kill(signal);
    });
    c.on("error", reject);
    c.on("exit", (code, sig) => resolve({ code, signal: sig, stderr, stdout }));
  });
}

async function readBack(file: string): Promise<{ ok: boolean; saved?: number; inner?: number[] }> {
  await h5wasm.ready;
  const f = new h5wasm.File(file, "r");
  if (f.file_id < 0n) return { ok: false };
  try {
    const saved = (f.get("saved") as any)?.value as Float64Array | undefined;
    const inner = (f.get("group/inner") as any)?.value as Int32Array | undefined;
    return { ok: !!saved && !!inner, saved: saved?.length, inner: inner ? [...inner] : undefined };
  } finally {
    f.close();
  }
}

describe("closing at exit", function () {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = tempDir()));
  afterEach(() => tmp.cleanup());

  for (const how of ["end", "exit", "worker"]) {
    it(`saves an unclosed writer when the ${how === "worker" ? "worker thread ends" : `process ${how === "end" ? "ends" : "calls process.exit()"}`}`, async function () {
      const file = join(tmp.dir, `${how}.h5`);
      const r = await runWriter(file, how, true);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stderr).to.equal("");
      expect(await readBack(file)).to.deep.equal({ ok: true, saved: 4096, inner: [1, 2, 3] });
      expect(readdirSync(tmp.dir), "no lock files left").to.deep.equal([`${how}.h5`]);
    });
  }

  it("says which files it closed when H5TS_WARN_UNCLOSED=1", async function () {
    const file = join(tmp.dir, "warned.h5");
    const r = await runWriter(file, "exit", true, undefined, { H5TS_WARN_UNCLOSED: "1" });
    expect(r.code).to.equal(0);
    expect(r.stderr).to.match(/H5ThreadsafeWarning: closing 1 HDF5 file\(s\) left open at exit: .*warned\.h5/);
    expect(await readBack(file)).to.deep.include({ ok: true });
  });

  it("without the patch, the same unclosed writer leaves a file HDF5 cannot read", async function () {
    const file = join(tmp.dir, "bare.h5");
    const r = await runWriter(file, "exit", false);
    expect(r.code).to.equal(0);
    const back = await readBack(file);
    expect(back.ok).to.equal(false);
  });

  it("with a SIGTERM handler of the user's, leaves the signal to it (files stay open)", async function () {
    const file = join(tmp.dir, "handled.h5");
    const r = await runWriter(file, "signal-handled", true, "SIGTERM");
    expect(r.signal).to.equal(null);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.include("handled, still open: 1");
    expect(await readBack(file)).to.deep.equal({ ok: true, saved: 4096, inner: [1, 2, 3] }); // closed at its exit
  });

  it("on SIGTERM also closes the files of worker threads first", async function () {
    const file = join(tmp.dir, "worker-signal.h5");
    const r = await runWriter(file, "signal-worker", true, "SIGTERM");
    expect(r.signal).to.equal("SIGTERM");
    expect(await readBack(file)).to.deep.equal({ ok: true, saved: 4096, inner: [1, 2, 3] });
  });

  describe("with a worker blocked waiting for another file's lock", function () {
    const s = scenario("held-elsewhere.h5");
    it("on SIGTERM that worker closes its files from inside its wait, then the process dies by the signal", async function () {
      const file = join(s.dir, "worker-waiting.h5");
      const holder = await s.start("process", { name: "H" });
      await holder.do({ cmd: "open", file: s.file, mode: "a" }); // held until the test ends
      const r = await runWriter(file, "signal-worker-waiting", true, "SIGTERM", undefined, s.file);
      expect(r.signal, r.stderr).to.equal("SIGTERM");
      // Without the answer from the wait, the worker's writer was never closed: HDF5 could not read it.
      expect(await readBack(file)).to.deep.equal({ ok: true, saved: 4096, inner: [1, 2, 3] });
    });
  });

  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
    it(`on ${signal} closes the files, then dies by the signal as it would have`, async function () {
      const file = join(tmp.dir, `${signal}.h5`);
      const r = await runWriter(file, "signal", true, signal);
      expect(r.signal).to.equal(signal);
      expect(await readBack(file)).to.deep.equal({ ok: true, saved: 4096, inner: [1, 2, 3] });
      expect(readdirSync(tmp.dir)).to.deep.equal([`${signal}.h5`]);
    });
  }
});

/** Whether process `pid` catches `signal` (its bit in SigCgt of /proc/<pid>/status). */
function catches(pid: number, signal: NodeJS.Signals): boolean {
  const mask = BigInt("0x" + (/^SigCgt:\s*([0-9a-f]+)/m.exec(readFileSync(`/proc/${pid}/status`, "latin1"))?.[1] ?? "0"));
  return ((mask >> BigInt(constants.signals[signal] - 1)) & 1n) === 1n;
}

describe("exit codes", function () {
  it("a top-level await that never settles still exits 13, patched or through the API (signal-exit made it 0); an exit code set stays", function () {
    const tmp = tempDir();
    try {
      const file = join(tmp.dir, "t.h5");
      const INDEX = fileURLToPath(new URL("../src/index.js", import.meta.url));
      const write = (name: string, lines: string[]) => {
        const path = join(tmp.dir, name);
        writeFileSync(path, lines.join("\n"));
        return path;
      };
      const hang = write("hang.mjs", [`await new Promise(() => {});`]);
      const api = write("api.mjs", [
        `import h5wasm from ${JSON.stringify(import.meta.resolve("h5wasm/node"))};`,
        `import { openFile } from ${JSON.stringify(INDEX)};`,
        `await h5wasm.ready;`,
        `openFile(${JSON.stringify(file)}, "w").close();`,
        `await new Promise(() => {});`,
      ]);
      const set = write("set.mjs", [`process.exitCode = 0;`, `await new Promise(() => {});`]);
      const code = (args: string[]) => spawnSync(process.execPath, args, { encoding: "utf8", timeout: 60_000 }).status;
      expect(code([hang]), "bare").to.equal(13);
      expect(code(["--import", INSTALL, hang]), "patched").to.equal(13);
      expect(code([api]), "the API").to.equal(13);
      expect(code(["--import", INSTALL, set]), "exit code set by the program").to.equal(0);
    } finally {
      tmp.cleanup();
    }
  });
});

describe("a signal during busy synchronous code", function () {
  const s = scenario("busy.h5");

  it("still ends the process by that signal once the code returns, as in bare Node (it is not lost)", async function () {
    const busy = fileURLToPath(new URL("./fixtures/busy-writer.js", import.meta.url));
    const c = spawn(process.execPath, [busy, s.file], { stdio: ["ignore", "pipe", "pipe"] });
    c.stderr!.on("data", (d) => process.stderr.write(d)); // kept with the test's own (shown if it fails)
    let out = "";
    c.stdout!.on("data", (d) => {
      out += d;
      if (String(d).includes("ready")) c.kill("SIGINT");
    });
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) => c.on("exit", (code, sig) => r([code, sig])));
    expect({ code, signal }).to.deep.equal({ code: null, signal: "SIGINT" });
    expect(out, "the busy code ran to its end first").to.include("done");
  });
});

describe("signals while waiting for a lock", function () {
  const s = scenario("wait.h5");

  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    it(`a process blocked waiting for a lock dies on ${signal} at once, by the signal, while the holder still holds`, async function () {
      const holder = await s.start("thread", { name: "H" });
      const h = await holder.do({ cmd: "open", file: s.file, mode: "a" });
      const waiter = await s.start("process", { name: "W" });
      void waiter.send({ cmd: "open", file: s.file, mode: "r" });
      await until(() => inspect(s.file).waiters.length === 1, 15_000, "W to wait");
      // Blocked in its wait, the process has handed the signals back to their default action:
      // /proc shows them no longer caught (handshake by state; the record appears a moment before).
      await until(() => !catches(waiter.pid!, signal), 15_000, "W's signals back to their defaults");
      waiter.kill(signal).catch(() => undefined);
      const deadline = new Promise<"alive">((r) => setTimeout(() => r("alive"), 10_000).unref());
      const exit = await Promise.race([waiter.exitedBy, deadline]);
      expect(exit, "still alive 10 s after the signal").to.deep.equal({ code: null, signal });
      expect(inspect(s.file).holders.map((x) => x.pid), "the holder still holds: W died during its wait").to.deep.equal([process.pid]);
      await holder.do({ cmd: "close", index: h.index });
    });
  }
});
