// The mark of the preload's stand-ins for h5wasm's module functions (preload.ts
// patchAtFirstUse): its value is the function stood in for, which patch.ts wraps instead.
export const FIRST_USE = Symbol.for("h5-threadsafe.first-use.v1");
