// Every worker thread and child process that a patched thread starts is covered: Worker
// (as piscina and most pools use it) and child_process.fork get `--import` of
// coverage/preload.ts added to their execArgv, which patches h5wasm in them if and when
// they load it, whatever their own code imports.
//
// Not covered (README, "Is my worker covered?"): children started before the patch was
// loaded; processes started by spawn/exec of node (their arguments are theirs); eval
// workers (Node runs no --import in them) and a worker whose inherited flags Node refuses
// to pass explicitly: these two are said once (warning H5TS_UNCOVERED).

import { createRequire, syncBuiltinESMExports } from "node:module";
import { isMainThread } from "node:worker_threads";
import { holdOffLoading, holdOffLoadingSync } from "../process/libc.js";

const require = createRequire(import.meta.url);
const PRELOAD = new URL("./preload.js", import.meta.url).href;
const MARK = Symbol.for("h5-threadsafe.coverage.v1");

type AnyFn = (...args: any[]) => any;
let warned = false;

const REGISTER = new URL("../register.js", import.meta.url);
const EAGER = new Set(["h5-threadsafe/patch", REGISTER.href, REGISTER.pathname]);

/**
 * The flags a child gets, or undefined to leave them as they are. Its own flags, plus the
 * preload. Inherited ones (none given): a child given `execArgv` no longer inherits the
 * flags the parent took from NODE_OPTIONS, so those are passed on explicitly; where they
 * already import the patch, the child is covered as it is and nothing changes. An eager
 * `--import` of the patch among the parent's command-line flags (`node --import
 * h5-threadsafe/patch`) is replaced by the preload, which covers the child as well and
 * loads h5wasm only if the child does: a worker that never uses it starts as fast as
 * without the patch, where the eager import costs it h5wasm's load (~250 ms here).
 */
function withPreload(execArgv: readonly string[] | undefined): string[] | undefined {
  if (execArgv) return [...execArgv, "--import", PRELOAD];
  const fromEnv = splitNodeOptions(process.env.NODE_OPTIONS ?? "");
  if (importsPatch(fromEnv)) return undefined;
  return [...fromEnv, ...withoutEagerPatch(process.execArgv), "--import", PRELOAD];
}

/** How many flags from `i` on import the patch eagerly: 2 (`--import X`), 1 (`--import=X`) or 0. */
function eagerImportAt(flags: readonly string[], i: number): number {
  if (flags[i] === "--import") return EAGER.has(flags[i + 1] ?? "") ? 2 : 0;
  return flags[i].startsWith("--import=") && EAGER.has(flags[i].slice("--import=".length)) ? 1 : 0;
}

function importsPatch(flags: readonly string[]): boolean {
  return flags.some((_, i) => eagerImportAt(flags, i) > 0);
}

function withoutEagerPatch(flags: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < flags.length; i++) {
    const n = eagerImportAt(flags, i);
    if (n) i += n - 1;
    else out.push(flags[i]);
  }
  return out;
}

/** NODE_OPTIONS as Node splits it: on spaces, but not inside double quotes (where \" and \\ escape). */
export function splitNodeOptions(value: string): string[] {
  const out: string[] = [];
  let current = "";
  let quoted = false;
  let any = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (quoted && c === "\\" && i + 1 < value.length) {
      current += value[++i];
    } else if (c === '"') {
      quoted = !quoted;
      any = true;
    } else if (c === " " && !quoted) {
      if (any || current) out.push(current);
      current = "";
      any = false;
    } else {
      current += c;
      any = true;
    }
  }
  if (any || current) out.push(current);
  return out;
}

function warnUncovered(why: string): void {
  if (warned) return;
  warned = true;
  process.emitWarning(`a worker thread was started without the lock (${why}): import "h5-threadsafe/patch" in its code`, {
    type: "H5ThreadsafeWarning",
    code: "H5TS_UNCOVERED",
  });
}

/** How long the process's exit waits for workers loading koffi (each takes ~10 ms). */
const EXIT_WAIT_MS = 500;

/**
 * terminate() of a worker never lands while a thread loads koffi (process/libc.ts: that
 * aborts the whole process); it waits for the load, which takes ~10 ms, then terminates.
 */
function guardTerminate<W extends object>(worker: W): W {
  const terminate = (worker as { terminate?: AnyFn }).terminate;
  if (typeof terminate !== "function") return worker;
  Object.defineProperty(worker, "terminate", {
    configurable: true,
    writable: true,
    value: async function (this: unknown, ...args: unknown[]) {
      const release = await holdOffLoading();
      try {
        return await terminate.apply(worker, args);
      } finally {
        release();
      }
    },
  });
  return worker;
}

interface Originals {
  Worker: AnyFn;
  fork: AnyFn;
}
const state = globalThis as { [MARK]?: Originals };

/** Wraps Worker and fork in this thread (once). */
export function coverChildren(): void {
  if (state[MARK]) return;
  const wt = require("node:worker_threads") as { Worker: AnyFn };
  const cp = require("node:child_process") as { fork: AnyFn };
  const originals: Originals = { Worker: wt.Worker, fork: cp.fork };
  state[MARK] = originals;
  // A Proxy, not a subclass: `instanceof`, statics and subclasses of Worker stay as they were.
  wt.Worker = new Proxy(originals.Worker, {
    construct(target, args: unknown[], newTarget) {
      const [filename, options] = args as [unknown, { execArgv?: string[]; eval?: boolean } | undefined];
      // Node runs no --import in an eval worker: its code must import the patch itself.
      if (options?.eval) warnUncovered("an eval worker, where Node runs no --import");
      const execArgv = withPreload(options?.execArgv);
      if (!execArgv) return guardTerminate(Reflect.construct(target, args, newTarget));
      try {
        return guardTerminate(Reflect.construct(target, [filename, { ...options, execArgv }, ...args.slice(2)], newTarget));
      } catch (e) {
        // Flags the main process took that a worker may not be given explicitly.
        if ((e as NodeJS.ErrnoException).code !== "ERR_WORKER_INVALID_EXEC_ARGV") throw e;
        warnUncovered("Node refused its flags with the preload added");
        return guardTerminate(Reflect.construct(target, args, newTarget));
      }
    },
  });
  // At the process's exit Node terminates every worker: not while one loads koffi.
  if (isMainThread) process.on("exit", () => holdOffLoadingSync(EXIT_WAIT_MS));
  const fork = originals.fork;
  cp.fork = Object.defineProperty(
    function (this: unknown, modulePath: unknown, args?: unknown, options?: unknown) {
      // fork(modulePath[, args][, options]): args may be left out.
      if (!Array.isArray(args) && args !== undefined && args !== null) [args, options] = [undefined, args];
      const opts = (options ?? {}) as { execArgv?: string[] };
      // A forked process reads NODE_OPTIONS itself: only its command line is ours to add to.
      const execArgv = opts.execArgv ?? process.execArgv;
      return fork.call(this, modulePath, args ?? [], importsPatch(execArgv) ? opts : { ...opts, execArgv: [...execArgv, "--import", PRELOAD] });
    },
    "name",
    { value: fork.name },
  );
  syncBuiltinESMExports(); // `import { Worker } from "node:worker_threads"` sees it too
}

/** Puts Worker and fork back (unpatch). */
export function uncoverChildren(): void {
  const originals = state[MARK];
  if (!originals) return;
  delete state[MARK];
  (require("node:worker_threads") as { Worker: AnyFn }).Worker = originals.Worker;
  (require("node:child_process") as { fork: AnyFn }).fork = originals.fork;
  syncBuiltinESMExports();
}
