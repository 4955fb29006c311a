// Loaded with `--import` in every worker thread and child process that a patched thread
// starts (children.ts), whatever their own code imports. It costs such a thread nearly
// nothing until it loads h5wasm: it covers the workers and processes the thread starts in
// turn (a dispatcher that never loads h5wasm may start its workers with flags of its own,
// which drop the inherited preload), and sets a trap for h5wasm's runtime. Emscripten,
// once the runtime is initialized and right before anyone can use it, looks up
// `Module.onRuntimeInitialized` (synchronously, after resolving its ready promise but
// before any code awaiting that promise has run). The trap is a getter of that name on
// Object.prototype: when h5wasm's Module looks it up, the trap removes itself and patches
// that Module and h5wasm's File at once, so the thread's first open is already locked.
// The getter answers undefined (as the missing property would), and assigning the name
// on any object still makes an own property; other objects never see a difference but
// `"onRuntimeInitialized" in obj`, until the trap is gone.

import { createRequire } from "node:module";
import { coverChildren } from "./children.js";
import { FIRST_USE, TRAP, TRAP_NAME as NAME, WRAPPED, isNodeBuildModule, removeTrap } from "./trap.js";

coverChildren();

const proto = Object.prototype as unknown as Record<PropertyKey, unknown>;

/** require() of our ES modules (Node >= 20.19), synchronously, and the patch of `module`. */
function patchNow(module: Record<string, unknown>): void {
  const { patchLoaded } = createRequire(import.meta.url)("../h5wasm/lazy-patch.js") as typeof import("../h5wasm/lazy-patch.js");
  patchLoaded(module);
}

function uncovered(e: unknown): void {
  // Never break h5wasm's start or an open: the thread runs unprotected, and says so.
  process.emitWarning(`h5wasm was loaded in this thread without the lock: ${String((e as Error)?.message ?? e)}`, {
    type: "H5ThreadsafeWarning",
    code: "H5TS_UNCOVERED",
  });
}

function install(module: Record<string, unknown>): void {
  try {
    patchNow(module);
  } catch {
    // The package's modules are being loaded at this moment by an import of the thread's
    // own (`await import("h5wasm/node")`, then `await import("h5-threadsafe")`): require()
    // cannot take a module in the middle of its loading. Patch at the module's first use
    // instead, which comes after that import has finished.
    patchAtFirstUse(module);
  }
}

function patchAtFirstUse(module: Record<string, unknown>): void {
  const originals = WRAPPED.map((name) => [name, Object.getOwnPropertyDescriptor(module, name)] as const);
  const standIns = new Map<string, unknown>();
  let done = false;
  const first = () => {
    if (done) return;
    done = true;
    // Only where a stand-in is still in place: a patch() of the thread's own since then has
    // put its wrappers there (around the originals), and they must stay.
    for (const [name, desc] of originals) if (desc && module[name] === standIns.get(name)) Object.defineProperty(module, name, desc);
    try {
      // Not through lazy-patch.js: the failed require() left that module half loaded for
      // good ("not yet fully loaded"); the thread's own import has loaded patch.js by now.
      const { patch } = createRequire(import.meta.url)("../patch.js") as typeof import("../patch.js");
      void patch(module as never);
    } catch (e) {
      uncovered(e);
    }
  };
  for (const [name, desc] of originals) {
    if (typeof desc?.value !== "function") continue;
    const standIn = function (this: unknown, ...args: unknown[]) {
      first();
      return (module[name] as (...a: unknown[]) => unknown).apply(this, args); // the patched one now
    };
    // patch() wraps what it stands in for, should the thread's own code call it first.
    Object.defineProperty(standIn, FIRST_USE, { value: desc.value });
    standIns.set(name, standIn);
    Object.defineProperty(module, name, { ...desc, value: standIn });
  }
}

if (!Object.getOwnPropertyDescriptor(proto, NAME)) {
  const get = Object.assign(
    function (this: Record<string, unknown>) {
      if (this !== null && typeof this === "object" && isNodeBuildModule(this)) {
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
