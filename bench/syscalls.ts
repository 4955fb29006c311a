// System calls per operation, bare h5wasm against the patch, for the patterns of the
// benchmark's rows (docs/architecture.md, "Where the time goes"):
//   npm run bench:syscalls            (needs strace: apt-get install strace)
// Each pattern runs in a child under `strace -f -c`; the table counts the calls that touch
// files and folders (futex, memory and event-loop calls left out), divided by the
// operations (an open+close, a request, an append).
//
// The child's side: node dist/bench/syscalls.js --child <bare|patched> <pattern> <n>

import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker, isMainThread, workerData } from "node:worker_threads";
import h5wasm from "h5wasm/node";
import { patch } from "../src/index.js";

const PATTERNS = {
  r: { n: 3000, what: "open+close `r`, tight loop" },
  a: { n: 3000, what: "open+close `a`, tight loop" },
  turn: { n: 2000, what: "open+close `r`, one per turn, back to back" },
  turn1ms: { n: 500, what: "open+close `r`, one per turn, ≥ 1 ms apart" },
  append: { n: 300, what: "one thread appending (per append)" },
  writers4: { n: 50, what: "4 writer threads appending (per append, all threads)" },
} as const;
type Pattern = keyof typeof PATTERNS;

// What a file or folder call is named in strace's summary.
const FILE_CALLS = new Set([
  "openat", "close", "read", "pread64", "pwrite64", "statx", "newfstatat", "lstat", "stat", "fstat", "flock",
  "getdents64", "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "renameat2", "fchmod", "ftruncate", "fsync",
  "readlink", "access", "faccessat2", "statfs", "fstatfs", "utimensat", "inotify_add_watch", "inotify_rm_watch", "ppoll",
]);

async function child(variant: string, pattern: Pattern | `writer${number}`, n: number, file: string): Promise<void> {
  await h5wasm.ready;
  if (variant === "patched") await patch();
  const pause = (ms: number) => new Promise((r) => (ms === 0 ? setImmediate(r) : setTimeout(r, ms)));
  const append = (f: string, name: string, i: number) => {
    const h = new h5wasm.File(f, "a");
    h.create_dataset({ name, data: new Float64Array([i]) });
    h.close();
  };
  switch (pattern) {
    case "r":
    case "a":
      for (let i = 0; i < n; i++) new h5wasm.File(file, pattern).close();
      break;
    case "turn":
    case "turn1ms":
      for (let i = 0; i < n; i++) {
        new h5wasm.File(file, "r").close();
        await pause(pattern === "turn" ? 0 : 1);
      }
      break;
    case "append":
      for (let i = 0; i < n; i++) append(file, `x${i}`, i);
      break;
    case "writers4": {
      const here = fileURLToPath(import.meta.url);
      const workers = [0, 1, 2, 3].map((k) => new Worker(here, { workerData: { argv: ["--child", variant, `writer${k}`, String(n), file] } }));
      await Promise.all(workers.map((w) => new Promise((r) => w.on("exit", r))));
      break;
    }
    default:
      for (let i = 0; i < n; i++) append(file, `${pattern}_${i}`, i);
  }
}

/** Per operation, by call, from `strace -c` output. */
function parse(summary: string, ops: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of summary.split("\n")) {
    const f = line.trim().split(/\s+/);
    const name = f[f.length - 1];
    if (f.length < 5 || !FILE_CALLS.has(name)) continue;
    out.set(name, Number(f[3]) / ops);
  }
  return out;
}

function main(): void {
  const which = spawnSync("strace", ["-V"], { encoding: "utf8" });
  if (which.error) {
    console.error("strace is not installed (apt-get install strace)");
    process.exit(1);
  }
  const dir = mkdtempSync(join(tmpdir(), "h5ts-syscalls-"));
  const rows: string[] = [];
  let serialAppends: Map<string, number> | undefined;
  try {
    for (const [pattern, { n, what }] of Object.entries(PATTERNS) as [Pattern, (typeof PATTERNS)[Pattern]][]) {
      const ops = pattern === "writers4" ? 4 * n : n;
      const counts: Record<string, Map<string, number>> = {};
      // Bare h5wasm's 4 writers corrupt the file and fail: its figure is one thread's appends, one after another.
      if (pattern === "writers4") counts.bare = serialAppends!;
      for (const variant of pattern === "writers4" ? ["patched"] : ["bare", "patched"]) {
        const file = join(dir, `${pattern}-${variant}.h5`);
        const made = spawnSync(process.execPath, ["-e", `import("h5wasm/node").then(async ({ default: h }) => { await h.ready; const f = new h.File(${JSON.stringify(file)}, "w"); f.create_dataset({ name: "x", data: new Float64Array(16) }); f.close(); })`], { cwd: fileURLToPath(new URL("../../", import.meta.url)) });
        if (made.status !== 0) throw new Error(`making ${file}: ${made.stderr}`);
        const out = join(dir, `${pattern}-${variant}.strace`);
        const run = spawnSync("strace", ["-f", "-qq", "-c", "-o", out, process.execPath, fileURLToPath(import.meta.url), "--child", variant, pattern, String(n), file], { encoding: "utf8" });
        if (run.status !== 0) throw new Error(`${pattern} ${variant}: ${run.stderr}`);
        counts[variant] = parse(readFileSync(out, "utf8"), ops);
      }
      if (pattern === "append") serialAppends = counts.bare;
      const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
      const added = [...counts.patched]
        .map(([name, x]) => [name, x - (counts.bare.get(name) ?? 0)] as const)
        .filter(([, d]) => Math.abs(d) >= 0.05)
        .sort((a, b) => b[1] - a[1])
        .map(([name, d]) => `${name} ${d > 0 ? "+" : "−"}${Math.abs(d).toFixed(1)}`)
        .join(", ");
      rows.push(`| ${what} | ${total(counts.bare).toFixed(1)} | ${total(counts.patched).toFixed(1)} | ${added} |`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log("| pattern | bare h5wasm | patched | what the patch adds |");
  console.log("|---|---|---|---|");
  for (const row of rows) console.log(row);
  console.log("\nSystem calls per operation that touch files and folders (strace -f -c; writes to the terminal left out). For the 4 writers, bare is one thread's appends one after another (bare h5wasm's 4 writers corrupt the file).");
}

if (!isMainThread) {
  const [, variant, pattern, n, file] = (workerData as { argv: string[] }).argv;
  await child(variant, pattern as Pattern, Number(n), file);
} else if (process.argv[2] === "--child") {
  const [, , , variant, pattern, n, file] = process.argv;
  await child(variant, pattern as Pattern, Number(n), file);
} else main();
