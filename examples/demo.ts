// `npm start`: the problem and the fix, side by side. The same concurrent workload
// (examples/demo_workload.ts, plain h5wasm) runs twice in child processes, each on a
// fresh file in a temporary folder: as it is, then with the patch preloaded by
// `node --import`. Then the PyTables mean example runs on the patched h5wasm.
// The bare run is expected to lose data; only a patched run that does is a failure.

import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = (name: string) => fileURLToPath(new URL(name, import.meta.url));
const WORKLOAD = here("./demo_workload.js");
const MEAN_EXAMPLE = here("./threading_monkeypatch.js");
// A file URL rather than a bare path: --import takes a module specifier (a Windows path is not one).
const PATCH = pathToFileURL(here("../src/register.js")).href;
const CHILD_TIMEOUT_MS = 20_000; // a damaged file could send HDF5 into a loop; never hang the demo

interface Ran {
  status: string; // "ok", "exit code N", "signal S" or "timed out"
  stdout: string;
  stderr: string;
}

interface WorkloadResult {
  patched: boolean;
  appendsAttempted: number;
  appendsPresent: number;
  tornReads: number;
  failedReads: number;
  exceptions: number;
  reads: number;
  crashedThreads: number;
  seconds: number;
}

interface Outcome {
  name: string;
  patched: boolean;
  ran: Ran;
  result: WorkloadResult | undefined;
  /** HDF5 error dumps on the child's stderr. */
  diag: number;
}

const children = new Set<ChildProcess>();

/** Runs node with `args`, capturing its output; never rejects for what the child does. */
function runNode(args: string[]): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    children.add(child);
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, CHILD_TIMEOUT_MS);
    child.on("error", (e) => {
      clearTimeout(timer);
      children.delete(child);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      const status = timedOut ? "timed out" : signal ? `signal ${signal}` : code ? `exit code ${code}` : "ok";
      resolve({ status, stdout, stderr });
    });
  });
}

function parseResult(ran: Ran): WorkloadResult | undefined {
  const last = ran.stdout.trim().split("\n").pop();
  try {
    return ran.status === "ok" && last ? (JSON.parse(last) as WorkloadResult) : undefined;
  } catch {
    return undefined;
  }
}

/** What a child said on stderr besides HDF5's diagnostics (which can run to thousands of lines). */
function otherStderr(stderr: string): string {
  const lines = stderr.split("\n").filter((l) => l.trim() && !l.startsWith("HDF5-DIAG") && !/^\s+(#\d+|major|minor):/.test(l));
  return lines.slice(-15).join("\n");
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join("   ")).join("\n");
}

async function main(dir: string): Promise<void> {
  console.log("h5wasm has no file locking: worker threads and processes using one file corrupt it.");
  console.log("The same workload runs twice, in a child process each: 4 worker threads append 20");
  console.log("datasets each to one file (open \"a\", create, close) while 2 reader threads read a");
  console.log("dataset that one writer keeps rewriting. First bare, then with the patch preloaded:");
  console.log(`  node --import h5-threadsafe/patch demo_workload.js\n`);

  const runs = [
    { name: "bare h5wasm", args: [WORKLOAD, "bare", join(dir, "bare.h5")], patched: false },
    { name: "h5-threadsafe", args: ["--import", PATCH, WORKLOAD, "patched", join(dir, "patched.h5")], patched: true },
  ];
  const results: Outcome[] = [];
  for (const run of runs) {
    const ran = await runNode(run.args); // one at a time, so the two do not compete for the cores
    results.push({ ...run, ran, result: parseResult(ran), diag: ran.stderr.match(/HDF5-DIAG/g)?.length ?? 0 });
  }

  const cell = (r: Outcome, show: (w: WorkloadResult) => string) => (r.result ? show(r.result) : r.ran.status);
  console.log(
    table([
      ["", ...results.map((r) => r.name)],
      ["appends present / attempted", ...results.map((r) => cell(r, (w) => `${w.appendsPresent} / ${w.appendsAttempted}`))],
      ["torn reads / reads", ...results.map((r) => cell(r, (w) => `${w.tornReads} / ${w.reads}`))],
      ["  of which failed outright", ...results.map((r) => cell(r, (w) => `${w.failedReads}`))],
      ["h5wasm calls that threw", ...results.map((r) => cell(r, (w) => `${w.exceptions}`))],
      ["HDF5 errors (stderr)", ...results.map((r) => `${r.diag}`)],
      ["seconds", ...results.map((r) => cell(r, (w) => w.seconds.toFixed(2)))],
    ]),
  );
  const bare = results[0];
  if (bare.result && bare.diag > bare.result.exceptions) {
    const threw = bare.result.exceptions === 1 ? "1 call" : `${bare.result.exceptions} calls`;
    console.log(`\nMost failures are silent: HDF5 printed ${bare.diag} errors on stderr, and only ${threw} threw.`);
  }

  for (const r of results) {
    const w = r.result;
    if (!w) {
      console.log(`\nThe ${r.name} run did not finish (${r.ran.status}). Its last words:\n${otherStderr(r.ran.stderr)}`);
    } else if (w.patched !== r.patched) {
      console.log(`\nNote: the ${r.name} run was ${w.patched ? "" : "not "}patched in every thread (NODE_OPTIONS?).`);
    } else if (w.crashedThreads) {
      console.log(`\n${w.crashedThreads} thread(s) of the ${r.name} run died:\n${otherStderr(r.ran.stderr)}`);
    }
    const clean = w && w.appendsPresent === w.appendsAttempted && w.tornReads === 0 && r.diag === 0 && !w.crashedThreads;
    if (r.patched && !clean) process.exitCode = 1; // the fix did not hold: that is a real failure
  }

  const meanFile = join(dir, "simple_threading.h5");
  console.log(`\nPyTables' threading example, ported (threading_monkeypatch.js ${meanFile} /array 5):`);
  const mean = await runNode([MEAN_EXAMPLE, meanFile, "/array", "5"]);
  process.stdout.write(mean.stdout);
  const value = Number(/Mean: (\S+)/.exec(mean.stdout)?.[1]);
  if (mean.status === "ok") {
    // 10,000 uniform numbers in [0, 1): mean 0.5, standard deviation 1/sqrt(12 * 10,000) ≈ 0.0029.
    const near = Math.abs(value - 0.5) < 0.015;
    console.log(
      `The example made the file: 100×100 random numbers, uniform in [0, 1), so the mean should be near 0.5 ` +
        `(±0.003 typically); 5 threads each summed their rows under a shared lock. ${near ? "It is." : "It is NOT: something is wrong."}`,
    );
    if (!near) process.exitCode = 1;
  } else {
    console.log(`It failed (${mean.status}):\n${mean.stderr.trim()}`);
    process.exitCode = 1;
  }
}

const dir = mkdtempSync(join(tmpdir(), "h5-threadsafe-demo-"));
const cleanUp = () => {
  for (const child of children) child.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
};
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    cleanUp();
    process.kill(process.pid, signal); // die by the signal, as without this handler
  });
}
try {
  await main(dir);
} finally {
  cleanUp();
}
