// Measures the native flock layer against h5py, both ways, and prints two markdown tables:
//   node dist/bench/native-flock-table.js
// 1. Node holds mode X through src/native/flock.ts (flock only, no h5wasm open), then
//    h5py tries mode Y on the same file.
// 2. h5py holds mode Y open, then Node tries the lock of mode X (one non-blocking try).
// Modes: r, a, w, Sr (SWMR read), Sa (SWMR write: h5py File(p, "a", libver="latest")
// then f.swmr_mode = True; Node: exclusive while opening, nothing after, as HDF5).
// Each cell starts from a fresh file (h5py's w truncates).

import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import h5wasm from "h5wasm/node";
import { NativeFileLock, nativeLocking, nativePlan, type H5Mode } from "../src/native/flock.js";

const PYTHON = "/usr/bin/python3";
const MODES = ["r", "a", "w", "Sr", "Sa"] as const;
const PY = `
import sys, h5py
path, mode, hold = sys.argv[1], sys.argv[2], sys.argv[3] == "hold"
try:
    if mode == "Sr": f = h5py.File(path, "r", swmr=True)
    elif mode == "Sa":
        f = h5py.File(path, "a", libver="latest"); f.swmr_mode = True
    else: f = h5py.File(path, mode)
except OSError as e:
    print("FAIL", e.errno, str(e).split("(")[-1].split(",")[0], flush=True); sys.exit(0)
print("READY" if hold else "OK", flush=True)
if hold: sys.stdin.read()
f.close()
`;

async function fresh(path: string): Promise<number> {
  await h5wasm.ready;
  const f = new h5wasm.File(path, "w", { libver: "v110" });
  f.create_dataset({ name: "data", data: new Float64Array([1, 2, 3]), maxshape: [null], chunks: [10] });
  f.close();
  return statSync(path).size;
}

/** Node takes mode X's lock as the lock layer would; returns the lock (or undefined). */
function nodeTake(path: string, mode: H5Mode): { lock?: NativeFileLock; took: boolean } {
  const plan = nativePlan(mode);
  const { lock, reason } = NativeFileLock.open(path, plan.kind, { create: plan.create });
  if (!lock) throw new Error(reason);
  const took = lock.tryAcquire();
  if (took && !plan.keepAfterOpen) lock.relax("none"); // Sa: h5wasm's open done, drop it
  return { lock, took };
}

const dir = mkdtempSync(join(tmpdir(), "h5ts-flock-table-"));
const file = join(dir, "t.h5");
if (!nativeLocking().enabled) {
  console.log(`native layer off: ${nativeLocking().reason}`);
  process.exit(0);
}

const cell1: Record<string, Record<string, string>> = {};
for (const x of MODES) {
  cell1[x] = {};
  for (const y of MODES) {
    const size = await fresh(file);
    const { lock, took } = nodeTake(file, x);
    if (!took) throw new Error(`Node could not take ${x} on a free file`);
    const r = spawnSync(PYTHON, ["-c", PY, file, y, "once"], { encoding: "utf8" });
    lock!.close();
    let out = r.stdout.trim();
    if (out.startsWith("FAIL")) {
      const [, errno, ...msg] = out.split(" ");
      out = `refused (errno ${errno}, ${msg.join(" ")})`;
      const after = statSync(file).size;
      if (after !== size) out += `, file truncated ${size} → ${after} bytes`;
    } else out = out === "OK" ? "opens" : `? ${out} ${r.stderr.trim().split("\n").pop()}`;
    cell1[x][y] = out;
  }
}

const cell2: Record<string, Record<string, string>> = {};
for (const y of MODES) {
  cell2[y] = {};
  for (const x of MODES) {
    await fresh(file);
    const child = spawn(PYTHON, ["-c", PY, file, y, "hold"], { stdio: ["pipe", "pipe", "inherit"] });
    const exited = new Promise((r) => child.on("exit", r));
    const first = await new Promise<string>((res) => {
      let s = "";
      child.stdout!.on("data", (d) => {
        s += d;
        if (s.includes("\n")) res(s.trim());
      });
    });
    if (first !== "READY") throw new Error(`h5py could not hold ${y}: ${first}`);
    const { lock, took } = nodeTake(file, x);
    const holders = lock!.holders();
    lock!.close();
    child.stdin!.end();
    await exited;
    cell2[y][x] = took
      ? x === "Sa" ? "taken (EX during open, then dropped)" : "taken"
      : `refused; holder ${holders.map((h) => `${h.command} ${h.mode}`).join(", ")}`;
  }
}
rmSync(dir, { recursive: true, force: true });

const head = (a: string, b: string) => `| ${a} \\ ${b} | ${MODES.join(" | ")} |\n|---|${MODES.map(() => "---").join("|")}|`;
console.log(`Node (flock via src/native/flock.ts) holds X, h5py opens Y — ${process.version}\n`);
console.log(head("Node holds X", "h5py wants Y"));
for (const x of MODES) console.log(`| ${x} (${nativePlan(x).kind}${nativePlan(x).keepAfterOpen ? "" : ", dropped after open"}) | ${MODES.map((y) => cell1[x][y]).join(" | ")} |`);
console.log(`\nh5py holds Y open, Node tries X's lock (one non-blocking try)\n`);
console.log(head("h5py holds Y", "Node wants X"));
for (const y of MODES) console.log(`| ${y} | ${MODES.map((x) => cell2[y][x]).join(" | ")} |`);
