// Loaded with `--import` in every worker thread and child process that a patched thread
// starts (children.ts), whatever their own code imports. It costs such a thread nearly
// nothing until it loads h5wasm: it only sets a trap for h5wasm's runtime. Emscripten,
// once the runtime is initialized and right before anyone can use it, looks up
// `Module.onRuntimeInitialized` (synchronously, after resolving its ready promise but
// before any code awaiting that promise has run). The trap is a getter of that name on
// Object.prototype: when h5wasm's Module looks it up, the trap removes itself and patches
// that Module and h5wasm's File at once, so the thread's first open is already locked.
// The getter answers undefined (as the missing property would), and assigning the name
// on any object still makes an own property; other objects never see a difference but
// `"onRuntimeInitialized" in obj`, until the trap is gone.

import { createRequire } from "node:module";

const NAME = "onRuntimeInitialized";
const TRAP = Symbol.for("h5-threadsafe.coverage.trap.v1");
const proto = Object.prototype as unknown as Record<PropertyKey, unknown>;

/** h5wasm's Emscripten module, by the functions the patch wraps. */
function isH5wasmModule(m: Record<string, unknown>): boolean {
  return typeof m.open === "function" && typeof m.close_file === "function" && typeof m.H5Fstart_swmr_write === "function";
}

function removeTrap(): void {
  const desc = Object.getOwnPropertyDescriptor(proto, NAME);
  if (desc?.get && (desc.get as { [TRAP]?: true })[TRAP]) delete proto[NAME];
}

function install(module: Record<string, unknown>): void {
  try {
    // require() of our ES modules (Node >= 20.19): it must happen now, synchronously.
    const { patchLoaded } = createRequire(import.meta.url)("../h5wasm/lazy-patch.js") as typeof import("../h5wasm/lazy-patch.js");
    patchLoaded(module);
  } catch (e) {
    // Never break h5wasm's start: the thread runs unprotected, and says so.
    process.emitWarning(`h5wasm was loaded in this thread without the lock: ${String((e as Error)?.message ?? e)}`, {
      type: "H5ThreadsafeWarning",
      code: "H5TS_UNCOVERED",
    });
  }
}

if (!Object.getOwnPropertyDescriptor(proto, NAME)) {
  const get = Object.assign(
    function (this: Record<string, unknown>) {
      if (this !== null && typeof this === "object" && isH5wasmModule(this)) {
        removeTrap();
        install(this);
      }
      return undefined;
    },
    { [TRAP]: true as const },
  );
  Object.defineProperty(proto, NAME, {
    configurable: true,
    enumerable: false,
    get,
    set(this: object, value: unknown) {
      Object.defineProperty(this, NAME, { value, writable: true, enumerable: true, configurable: true });
    },
  });
}
