// The public surface, as a user's strict TypeScript sees it. Compiled (never run) by
// `npm test`'s build: an `@ts-expect-error` that no longer finds its error fails the build,
// and so does a line that stops compiling.

import h5wasm from "h5wasm/node";
import {
  ErrorCodes,
  FileOpenError,
  H5TSError,
  LockTimeoutError,
  openFile,
  openFileAsync,
  registry,
  withFileAsync,
  type H5TSErrorCode,
  type LockMode,
} from "../../src/index.js";

export function codes(e: H5TSError): string {
  switch (e.code) {
    case "ELOCKTIMEOUT":
      return "timeout";
    // @ts-expect-error: not a code (a typo of ENOENT)
    case "ENOENTT":
      return "typo";
    default:
      return e.code === ErrorCodes.EREOPEN ? "reopen" : "other";
  }
}

export function oneNamePerMeaning(e: LockTimeoutError, f: FileOpenError): [LockMode, string | undefined, string] {
  const code: "ELOCKTIMEOUT" = e.code;
  const fileCode: Exclude<H5TSErrorCode, "ELOCKTIMEOUT" | "EINVALIDARG" | "ENOTREADY" | "ENOLOCKDIR"> = f.code;
  void code;
  void fileCode;
  return [e.lock, e.mode, f.mode];
}

export function handlersAreFiles(): string[] {
  return [...registry().handlers].map((h) => h.filename + h.mode);
}

export async function asyncApi(path: string): Promise<number> {
  const signal = new AbortController().signal;
  await using f = await openFileAsync(path, "r", { signal, timeoutMs: 1000 });
  const n = await withFileAsync(path, "a", async (g) => g.keys().length, { signal });
  // @ts-expect-error: a synchronous wait cannot be aborted (nothing runs while it waits)
  openFile(path, "r", { signal });
  // @ts-expect-error: not an h5wasm mode
  openFile(path, "rw");
  return f.keys().length + n;
}

// @ts-expect-error: the patch's internals are not exported
import { bypassing } from "../../src/index.js";
void bypassing;

export function bareFile(path: string): void {
  // h5wasm's own File: `using` compiles once any file of the program imports the patch
  // (module augmentation is global: see the README).
  using f = new h5wasm.File(path, "r");
  void f;
}
