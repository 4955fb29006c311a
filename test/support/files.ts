import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import h5wasm from "h5wasm/node";

/** A fresh temporary folder, removed by the returned cleanup. */
export function tempDir(prefix = "h5ts-test-"): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Creates an HDF5 file fit for every mode, SWMR included (libver v110, one chunked
 * extensible dataset). Uses the original File class: the test process is not patched.
 */
export async function makeH5(path: string): Promise<void> {
  await h5wasm.ready;
  const f = new h5wasm.File(path, "w", { libver: "v110" });
  f.create_dataset({ name: "data", data: new Float64Array([1, 2, 3]), maxshape: [null], chunks: [10] });
  f.close();
}
