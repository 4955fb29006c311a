// What the preload (preload.ts) leaves in a thread, as the patch (patch.ts) must know it
// without loading the preload (whose import would set a trap): the trap itself, a getter
// of `onRuntimeInitialized` on Object.prototype, and the stand-ins it may put in place of
// h5wasm's module functions until their first use.

export const TRAP_NAME = "onRuntimeInitialized";
/** The mark of the trap's getter. */
export const TRAP = Symbol.for("h5-threadsafe.coverage.trap.v1");
/** The mark of a stand-in: its value is the function stood in for, which patch.ts wraps instead. */
export const FIRST_USE = Symbol.for("h5-threadsafe.first-use.v1");

/** The Emscripten module's functions that the patch wraps (an open comes first). */
export const WRAPPED = ["open", "close_file", "H5Fstart_swmr_write"] as const;

const proto = Object.prototype as unknown as Record<PropertyKey, unknown>;

/** Removes the trap from this thread, if it is set (it patches the next h5wasm that starts). */
export function removeTrap(): void {
  const desc = Object.getOwnPropertyDescriptor(proto, TRAP_NAME);
  if (desc?.get && (desc.get as { [TRAP]?: true })[TRAP]) delete proto[TRAP_NAME];
}

/**
 * Whether `m` is the Emscripten module of h5wasm's Node build, the one that opens real
 * files (NODERAWFS): it has the functions the patch wraps, and its file system knows
 * NODEFS. h5wasm's other build (`import "h5wasm"`: files in memory) has the functions but
 * not NODEFS, and is left alone, as it is in a thread patched by import.
 */
export function isNodeBuildModule(m: Record<string, unknown>): boolean {
  const fs = m.FS as { filesystems?: Record<string, unknown> } | undefined;
  return WRAPPED.every((name) => typeof m[name] === "function") && fs?.filesystems?.NODEFS !== undefined;
}
