// Which lock an h5wasm open needs: h5wasm's mode strings, and the flags its File passes to
// the Emscripten module's open.

import * as h5 from "h5wasm/node";
import type { LockMode } from "../lock/modes.js";

export type H5Module = typeof h5.Module;

/** The lock an h5wasm mode string needs; undefined for a mode h5wasm does not know. */
export function lockModeOf(mode: string): LockMode | undefined {
  switch (mode) {
    case "r":
      return "shared";
    case "Sr":
      return "swmr-read";
    case "a":
    case "w":
    case "x":
      return "exclusive";
    case "Sa":
      return "swmr-write";
    default:
      return undefined;
  }
}

/** The h5wasm mode string behind the flags that File passes to Module.open. */
export function modeOfFlags(M: H5Module, flags: unknown): string | undefined {
  for (const [mode, name] of Object.entries(h5.ACCESS_MODES)) {
    if ((M as unknown as Record<string, unknown>)[name] === flags) return mode;
  }
  return undefined;
}

// Which reopens HDF5 accepts in a thread that already has the file open, by the mode of
// the thread's first open of it: all of a thread's handles of one file share one HDF5
// file object, opened with that first access (and SWMR writing started on it changes
// nothing here). Measured with h5wasm 0.10.3 (HDF5 2.0); test/h5wasm/reopen.test.ts
// checks this table against h5wasm itself.
const REOPENS: Record<string, readonly string[]> = {
  r: ["r"],
  Sr: ["r", "Sr"],
  a: ["r", "Sr", "a"],
  w: ["r", "Sr", "a"],
  x: ["r", "Sr", "a"],
  Sa: ["r", "Sr", "a", "Sa"],
};

/** Whether HDF5 accepts opening a file as `mode` in a thread whose first open of it was `first`. */
export function reopenAccepted(first: string, mode: string): boolean {
  return REOPENS[first]?.includes(mode) ?? false;
}
