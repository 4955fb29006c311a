// h5-threadsafe: readers–writer locking for h5wasm across worker threads, processes and hosts.
export { openFile, openFileAsync, withFile, withFileAsync, ThreadsafeFile, type Mode, type OpenOptions, type AsyncOpenOptions } from "./api.js";
export { patch, unpatch, isPatched } from "./patch.js";
export { configure, settings, type Options } from "./config.js";
export { ErrorCodes, FileOpenError, H5TSError, InvalidArgumentError, LockTimeoutError, type FileOpenErrorCode, type H5TSErrorCode, type HolderInfo } from "./errors.js";
export { inspect, clearGone, type LockState } from "./lock/inspect.js";
export { type LockMode, compatible } from "./lock/modes.js";
export { registry, type FileRegistry } from "./registry.js";
