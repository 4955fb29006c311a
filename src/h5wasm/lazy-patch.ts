// The patch, installed from inside h5wasm's start in a thread that a patched thread
// started (coverage/preload.ts): h5wasm's module is evaluated by then, and its runtime is
// initialized but nobody has used it yet.

import type { H5Module } from "./access.js";
import { patch } from "../patch.js";

/** Patches h5wasm in this thread, with `module` its Emscripten module (not yet published as h5wasm.Module). */
export function patchLoaded(module: unknown): void {
  void patch(module as H5Module);
}
