// The drop-in patch: lock-wrapped versions of h5wasm's File (on the default export), of
// the Emscripten module's open and close_file (which every File, named import and
// subclass included, goes through) and of H5Fstart_swmr_write. It adapts h5wasm to the
// lock and changes nothing else: same results, same exceptions, same output.
//
// Wrappers keep the original beside them and are marked, so the patch happens once per
// thread even with several copies of this package; unpatch() restores an original only
// where our wrapper is still the one installed.

import { isMainThread } from "node:worker_threads";
import h5wasm, * as h5 from "h5wasm/node";
import { lockModeOf, modeOfFlags, type H5Module } from "./h5wasm/access.js";
import { adoptFile, bypassed, closeLocked, openLocked, swmrWriteStarted } from "./h5wasm/open-close.js";
import { coverChildren, uncoverChildren } from "./coverage/children.js";
import { FIRST_USE, WRAPPED, removeTrap } from "./coverage/trap.js";
import { watchSignals } from "./lifecycle.js";
import { prepareWake } from "./lock/wake.js";
import { openFiles, type H5File } from "./registry.js";

const MARK = Symbol.for("h5-threadsafe.wrapped");
const STATE = Symbol.for("h5-threadsafe.patch.v1");

type Fn = (...args: any[]) => any;
type Wrapped = Fn & { [MARK]?: Fn };

interface PatchState {
  File: typeof h5.File;
  Patched: typeof h5.File;
  module?: H5Module;
  dispose?: PropertyDescriptor;
}

type Holder = Record<PropertyKey, unknown>;
const home = h5wasm as unknown as Holder & { [STATE]?: PatchState };

function wrap(target: Holder, name: string, make: (original: Fn) => Fn): void {
  const current = target[name] as Wrapped & { [FIRST_USE]?: Fn };
  // The preload's stand-in (coverage/preload.ts): wrap what it stands in for, and it goes.
  const original = (current?.[FIRST_USE] ?? current) as Wrapped;
  if (typeof original !== "function" || original[MARK]) return;
  const wrapper = make(original) as Wrapped;
  Object.defineProperty(wrapper, MARK, { value: original });
  Object.defineProperty(wrapper, "name", { value: original.name });
  const desc = Object.getOwnPropertyDescriptor(target, name);
  Object.defineProperty(target, name, { ...desc, value: wrapper });
}

/** Puts back what our wrapper, or the preload's stand-in, took the place of. */
function unwrap(target: Holder, name: string): void {
  const current = target[name] as Wrapped & { [FIRST_USE]?: Fn };
  const original = typeof current === "function" ? (current[MARK] ?? current[FIRST_USE]) : undefined;
  if (original) {
    const desc = Object.getOwnPropertyDescriptor(target, name);
    Object.defineProperty(target, name, { ...desc, value: original });
  }
}

// A handle opened under the patch keeps its lock until it closes, unpatch() or not: its
// close and start_swmr_write must still reach the registry. These wrappers stay while
// such handles are open, and the last close takes them away.
const WHILE_OPEN = new Set<string>(["close_file", "H5Fstart_swmr_write"]);

function patchModule(M: H5Module, state: PatchState): void {
  const mod = M as unknown as Holder;
  wrap(mod, "open", (open) =>
    function (this: unknown, filename: unknown, flags: unknown) {
      const args = arguments;
      const call = () => open.apply(this, args as unknown as unknown[]) as bigint;
      const mode = modeOfFlags(M, flags);
      // What h5wasm would refuse for its own reasons (no name, unknown flags) goes straight to it.
      if (bypassed() || typeof filename !== "string" || filename === "" || mode === undefined) return call();
      return openLocked({ filename, mode, lock: lockModeOf(mode)!, fileSystem: (M as { FS?: unknown }).FS }, call);
    },
  );
  wrap(mod, "close_file", (close) =>
    function (this: unknown, fileId: bigint) {
      const args = arguments;
      const call = () => close.apply(this, args as unknown as unknown[]);
      if (bypassed()) return call();
      try {
        return closeLocked(fileId, call);
      } finally {
        // Unpatched while this handle was open: the last one out puts the originals back.
        if (!isPatched() && openFiles().size === 0) for (const name of WHILE_OPEN) unwrap(mod, name);
      }
    },
  );
  wrap(mod, "H5Fstart_swmr_write", (start) =>
    function (this: unknown, fileId: bigint) {
      const result = start.apply(this, arguments as unknown as unknown[]);
      if (result >= 0) swmrWriteStarted(fileId);
      return result;
    },
  );
  state.module = M;
}

function makeFile(Original: typeof h5.File): typeof h5.File {
  const File = class File extends Original {
    constructor(...args: any[]) {
      super(...(args as [string]));
      adoptFile(this);
    }
    // Files made by the original class (named import, h5wasm itself) are Files too.
    static override [Symbol.hasInstance](value: unknown): boolean {
      return Function.prototype[Symbol.hasInstance].call(Original, value);
    }
  };
  return File;
}

/** Whether the patch is installed in this thread. */
export function isPatched(): boolean {
  return home[STATE] !== undefined;
}

/**
 * Installs the wrappers in this thread. Idempotent. The returned promise settles once
 * h5wasm's module is ready and wrapped too.
 */
export function patch(module?: H5Module): Promise<void> {
  prepareWake(); // before the program starts its workers
  if (isMainThread) watchSignals(); // to close the workers' files on a signal
  coverChildren(); // the workers and processes it starts from now on are patched too
  let state = home[STATE];
  if (!state) {
    const Original = home.File as typeof h5.File;
    state = { File: Original, Patched: makeFile(Original) };
    Object.defineProperty(home, STATE, { value: state, configurable: true });
    home.File = state.Patched;
    const proto = Original.prototype as unknown as Holder;
    if (!Object.prototype.hasOwnProperty.call(proto, Symbol.dispose)) {
      state.dispose = {
        value: function (this: H5File) {
          if (openFiles().get(this.file_id)) this.close();
        },
        writable: true,
        configurable: true,
        enumerable: false,
      };
      Object.defineProperty(proto, Symbol.dispose, state.dispose);
    }
  }
  const s = state;
  // `module`: h5wasm's, given from inside its start (coverage/preload.ts), before h5wasm
  // publishes it as h5wasm.Module.
  const ready = module ?? h5.Module;
  if (ready) {
    if (!s.module) patchModule(ready, s);
    return Promise.resolve();
  }
  return h5.ready.then((M) => {
    if (home[STATE] === s && !s.module) patchModule(M, s);
  });
}

/**
 * Removes the wrappers from this thread, where ours are still the ones installed. Files
 * opened under the patch keep their locks until they are closed.
 */
export function unpatch(): void {
  uncoverChildren();
  removeTrap(); // a covered thread's preload would patch h5wasm when it starts
  const state = home[STATE];
  // Not patched yet, the module may hold the preload's stand-ins, which would patch it at
  // its first use: they go too.
  const module = (state?.module ?? h5.Module) as unknown as Holder | undefined;
  const open = openFiles().size > 0;
  if (module) for (const name of WRAPPED) if (!(open && WHILE_OPEN.has(name))) unwrap(module, name);
  if (!state) return;
  const proto = state.File.prototype as unknown as Holder;
  if (state.dispose && Object.getOwnPropertyDescriptor(proto, Symbol.dispose)?.value === state.dispose.value) {
    delete proto[Symbol.dispose];
  }
  if (home.File === state.Patched) home.File = state.File;
  delete home[STATE];
}

