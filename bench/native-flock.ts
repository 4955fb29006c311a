// The cost of the native flock layer (src/native/flock.ts), on this machine:
//   node dist/bench/native-flock.js            -> JSON on stdout
// - koffi's load time in a fresh process (require + dlopen(NULL) + binding flock), as the
//   median of several fresh `node` processes, each timing only that step;
// - tryFlock + unflock on one descriptor, per pair, in µs (median of rounds);
// - the whole per-open path: NativeFileLock.open + tryAcquire + close (open(2), fstat,
//   flock, close(2));
// - nativeHolders (stat + read /proc/locks + /proc/<pid>/comm), per call.

import { execFileSync } from "node:child_process";
import { mkdtempSync, openSync, closeSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { NativeFileLock, nativeHolders, nativeLocking, tryFlock, unflock } from "../src/native/flock.js";

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function perCallUs(n: number, rounds: number, fn: () => void): number {
  for (let i = 0; i < n; i++) fn(); // warm-up
  const r: number[] = [];
  for (let k = 0; k < rounds; k++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn();
    r.push(Number(process.hrtime.bigint() - t0) / 1e3 / n);
  }
  return median(r);
}

if (process.argv[2] === "--load-once") {
  // A fresh process: time the first nativeLocking(), which requires koffi and binds flock.
  const t0 = performance.now();
  const state = nativeLocking();
  const ms = performance.now() - t0;
  process.stdout.write(JSON.stringify({ ms, state }));
  process.exit(0);
}

const state = nativeLocking();
if (!state.enabled) {
  console.log(JSON.stringify({ enabled: false, reason: state.reason }));
  process.exit(0);
}

const self = fileURLToPath(import.meta.url);
const loads: number[] = [];
for (let i = 0; i < 7; i++) {
  loads.push(JSON.parse(execFileSync(process.execPath, [self, "--load-once"], { encoding: "utf8" })).ms);
}

const dir = mkdtempSync(join(tmpdir(), "h5ts-bench-flock-"));
const file = join(dir, "f.h5");
writeFileSync(file, "x");
const fd = openSync(file, "r");
const pairEx = perCallUs(20_000, 7, () => {
  tryFlock(fd, "exclusive");
  unflock(fd);
});
const pairSh = perCallUs(20_000, 7, () => {
  tryFlock(fd, "shared");
  unflock(fd);
});
const fd2 = openSync(file, "r");
tryFlock(fd2, "exclusive");
const refused = perCallUs(20_000, 7, () => {
  tryFlock(fd, "exclusive");
});
unflock(fd2);
closeSync(fd2);
closeSync(fd);
const whole = perCallUs(5_000, 7, () => {
  const { lock } = NativeFileLock.open(file, "exclusive");
  lock!.tryAcquire();
  lock!.close();
});
const { lock } = NativeFileLock.open(file, "shared");
lock!.tryAcquire();
const holders = perCallUs(2_000, 5, () => {
  nativeHolders(file);
});
lock!.close();
rmSync(dir, { recursive: true, force: true });

console.log(
  JSON.stringify(
    {
      node: process.version,
      koffiLoadMs: { median: +median(loads).toFixed(2), all: loads.map((x) => +x.toFixed(2)) },
      tryFlockExPlusUnflockUs: +pairEx.toFixed(3),
      tryFlockShPlusUnflockUs: +pairSh.toFixed(3),
      tryFlockRefusedUs: +refused.toFixed(3),
      openTryAcquireCloseUs: +whole.toFixed(3),
      nativeHoldersUs: +holders.toFixed(3),
    },
    null,
    2,
  ),
);
