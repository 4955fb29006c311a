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
