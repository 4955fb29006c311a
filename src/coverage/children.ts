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

const require = createRequire(import.meta.url);
// process/libc.ts, loaded at the first terminate() or at exit: the preload covers every
// thread's children from its start, and most never terminate a worker.
const libc = () => require("../process/libc.js") as typeof import("../process/libc.js");
const PRELOAD = new URL("./preload.js", import.meta.url).href;
const PRELOADS: ReadonlySet<string> = new Set([PRELOAD]);
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
  if (execArgv) return hasPreload(execArgv) ? [...execArgv] : [...execArgv, "--import", PRELOAD];
  const fromEnv = splitNodeOptions(process.env.NODE_OPTIONS ?? "");
  if (importsPatch(fromEnv)) return undefined;
  const inherited = withoutEagerPatch(process.execArgv);
  return [...fromEnv, ...inherited, ...(hasPreload(inherited) ? [] : ["--import", PRELOAD])];
}

/** Whether flags import the preload already (a covered thread's own flags). */
function hasPreload(flags: readonly string[]): boolean {
  return flags.some((_, i) => importAt(flags, i, PRELOADS) > 0);
}

/** Whether a worker that inherits this thread's flags is covered: they import the patch or the preload. */
function inheritedFlagsCover(): boolean {
  return importsPatch(process.execArgv) || hasPreload(process.execArgv) || importsPatch(splitNodeOptions(process.env.NODE_OPTIONS ?? ""));
}

/**
 * `flags` without those that Node's ERR_WORKER_INVALID_EXEC_ARGV names ("...flags: --a,
 * --b=1"): flags of the whole process (V8's, the title), which a worker has anyway but may
 * not be given. A named flag without "=" takes its value along when one follows.
 */
function withoutRefused(flags: readonly string[], error: Error): string[] {
  const refused = new Set(error.message.slice(error.message.indexOf(": ") + 2).split(", "));
  const out: string[] = [];
  for (let i = 0; i < flags.length; i++) {
    if (!refused.has(flags[i])) out.push(flags[i]);
    else if (!flags[i].includes("=") && flags[i + 1] !== undefined && !flags[i + 1].startsWith("-")) i++;
  }
  return out;
}

/** How many flags from `i` on import one of `modules`: 2 (`--import X`), 1 (`--import=X`) or 0. */
function importAt(flags: readonly string[], i: number, modules: ReadonlySet<string>): number {
  if (flags[i] === "--import") return modules.has(flags[i + 1] ?? "") ? 2 : 0;
  return flags[i].startsWith("--import=") && modules.has(flags[i].slice("--import=".length)) ? 1 : 0;
}

function importsPatch(flags: readonly string[]): boolean {
  return flags.some((_, i) => importAt(flags, i, EAGER) > 0);
}

function withoutEagerPatch(flags: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < flags.length; i++) {
    const n = importAt(flags, i, EAGER);
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
      const release = await libc().holdOffLoading();
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
      const start = (flags: string[]) => guardTerminate(Reflect.construct(target, [filename, { ...options, execArgv: flags }, ...args.slice(2)], newTarget));
      try {
        return start(execArgv);
      } catch (e) {
        // Flags this process took that a worker may not be given explicitly (--expose-gc,
        // --max-old-space-size...). Only inherited ones are dropped: flags the program gives
        // the worker itself fail as they would without the patch.
        if ((e as NodeJS.ErrnoException).code !== "ERR_WORKER_INVALID_EXEC_ARGV") throw e;
        if (!options?.execArgv) {
          try {
            return start(withoutRefused(execArgv, e as Error));
          } catch (e2) {
            if ((e2 as NodeJS.ErrnoException).code !== "ERR_WORKER_INVALID_EXEC_ARGV") throw e2;
          }
        }
        if (!inheritedFlagsCover()) warnUncovered("Node refused its flags with the preload added");
        return guardTerminate(Reflect.construct(target, args, newTarget));
      }
    },
  });
  // At the process's exit Node terminates every worker: not while one loads koffi.
  if (isMainThread) process.on("exit", () => libc().holdOffLoadingSync(EXIT_WAIT_MS));
  const fork = originals.fork;
  cp.fork = Object.defineProperty(
    function (this: unknown, modulePath: unknown, args?: unknown, options?: unknown) {
      // fork(modulePath[, args][, options]): args may be left out.
      if (!Array.isArray(args) && args !== undefined && args !== null) [args, options] = [undefined, args];
      const opts = (options ?? {}) as { execArgv?: string[] };
      // A forked process reads NODE_OPTIONS itself: only its command line is ours to add to.
      const execArgv = opts.execArgv ?? process.execArgv;
      return fork.call(this, modulePath, args ?? [], importsPatch(execArgv) || hasPreload(execArgv) ? opts : { ...opts, execArgv: [...execArgv, "--import", PRELOAD] });
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
