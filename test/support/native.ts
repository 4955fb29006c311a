// Native HDF5 beside Node: Debian's h5py (python3-h5py, HDF5 1.10.8) and h5dump
// (hdf5-tools), which .ci/run installs. Tests skip, saying why, where they are missing.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";

// Debian's python; the python3 on PATH may be another one without h5py.
export const PYTHON = process.env.H5TS_TEST_PYTHON || "/usr/bin/python3";

let missing: string | null | undefined;
/** Why h5py and h5dump cannot be used here; null when they can. */
export function nativeToolsMissing(): string | null {
  if (missing !== undefined) return missing;
  if (!existsSync(PYTHON)) return (missing = `${PYTHON} not found (apt-get install python3-h5py)`);
  const r = spawnSync(PYTHON, ["-c", "import h5py"], { encoding: "utf8" });
  if (r.status !== 0) return (missing = `${PYTHON} cannot import h5py (apt-get install python3-h5py)`);
  const dump = spawnSync("h5dump", ["--version"], { encoding: "utf8" });
  if (dump.error || dump.status !== 0) return (missing = "h5dump not found (apt-get install hdf5-tools)");
  return (missing = null);
}

// Holds `path` open in a mode ("r", "a", "Sr": SWMR read, "Sa": SWMR write) until stdin
// closes; prints READY once open, or FAIL <errno> <message>.
const HOLD = `
import sys, h5py
path, mode = sys.argv[1], sys.argv[2]
try:
    if mode == "Sr": f = h5py.File(path, "r", swmr=True)
    elif mode == "Sa":
        f = h5py.File(path, "a", libver="latest"); f.swmr_mode = True
    else: f = h5py.File(path, mode)
except OSError as e:
    print("FAIL", e.errno, str(e).replace("\\n", " "), flush=True); sys.exit(3)
print("READY", flush=True)
sys.stdin.read()
f.close()
`;

/** An h5py process holding `path` open in `mode` until released. */
export async function h5pyHold(path: string, mode: string): Promise<{ child: ChildProcess; release: () => Promise<void> }> {
  const child = spawn(PYTHON, ["-c", HOLD, path, mode], { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stderr!.on("data", (d) => (err += d));
  const exited = new Promise<void>((r) => child.on("exit", () => r()));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (d) => {
      out += d;
      if (out.includes("READY")) resolve();
      else if (out.includes("FAIL")) reject(new Error(`h5py could not hold ${mode}: ${out}`));
    });
    child.on("exit", (code) => reject(new Error(`h5py exited (${code}) before READY: ${out} ${err}`)));
  });
  return {
    child,
    release: async () => {
      child.stdin!.end();
      await exited;
    },
  };
}

// One open attempt: prints OK or FAIL <errno> <message>.
const TRY = `
import sys, h5py
path, mode = sys.argv[1], sys.argv[2]
try:
    f = h5py.File(path, "r", swmr=True) if mode == "Sr" else h5py.File(path, mode)
    f.close(); print("OK", flush=True)
except OSError as e:
    print("FAIL", e.errno, str(e).replace("\\n", " "), flush=True)
`;

/** One h5py open attempt: ok, or the errno and message HDF5 gave. */
export function h5pyTry(path: string, mode: string): { ok: boolean; errno?: number; message?: string } {
  const r = spawnSync(PYTHON, ["-c", TRY, path, mode], { encoding: "utf8", timeout: 30_000 });
  const line = r.stdout.trim();
  if (line === "OK") return { ok: true };
  const [, errno, ...rest] = line.split(" ");
  return { ok: false, errno: Number(errno), message: rest.join(" ") || r.stderr };
}

// Appends datasets <prefix>_<i> with "a" for `seconds`, retrying an open refused by a lock
// (HDF5 fails at once: errno 11), or one that found the file "truncated": HDF5 reads the
// file's size when it opens it, before it takes its lock, so a writer that was finishing
// then (Node or native alike) makes the open fail though nothing is wrong with the file.
// Prints the refusals, then the indices it appended, one line.
const APPEND = `
import sys, time, h5py
path, prefix, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
done, refused, end, i = [], 0, time.time() + seconds, 0
while time.time() < end:
    try:
        f = h5py.File(path, "a")
    except OSError as e:
        if "unable to lock file" in str(e) or "truncated file" in str(e):
            refused += 1; time.sleep(0.0005); continue
        raise
    f.create_dataset("%s_%d" % (prefix, i), data=[i]); f.close()
    done.append(i); i += 1
print(refused, " ".join(map(str, done)), flush=True)
`;

/** Runs the h5py appender; resolves with the indices it acknowledged and how often a lock refused it. */
export function h5pyAppend(path: string, prefix: string, seconds: number): Promise<{ done: number[]; refused: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, ["-c", APPEND, path, prefix, String(seconds)], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (err += d));
    child.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`h5py appender exited ${code}: ${err}`));
      const [refused, ...done] = out.trim().split(" ");
      resolve({ refused: Number(refused), done: done.filter(Boolean).map(Number) });
    });
  });
}

/** The names in a file's root group, read by h5py. */
export function h5pyKeys(path: string): string[] {
  const r = spawnSync(PYTHON, ["-c", "import sys, h5py; f = h5py.File(sys.argv[1], 'r'); print('\\n'.join(f.keys()))", path], { encoding: "utf8", maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`h5py could not read ${path}: ${r.stderr}`);
  return r.stdout.split("\n").filter(Boolean);
}

/** h5dump's exit status on the whole file (0: it read every object). */
export function h5dumpStatus(path: string): number | null {
  return spawnSync("h5dump", [path], { stdio: "ignore" }).status;
}
