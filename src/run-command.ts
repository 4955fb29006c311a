// `h5-threadsafe run FILE[:mode]... -- command args...`: waits for each file's lock (the
// records of Node holders and waiters, then native holders' flocks), runs the command
// while holding the records, so that Node opens wait for it, and lets go when it ends.
// The command's own HDF5 takes its own flock; this process takes none (it would refuse
// the command's).

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { constants } from "node:os";
import { lockModeOf } from "./h5wasm/access.js";
import type { HeldLock } from "./lock/held-lock.js";
import type { LockMode } from "./lock/modes.js";
import { resolvePath } from "./lock/path.js";
import { acquire } from "./lock/wait.js";
import { describeHolders, nativeHolders } from "./native/flock.js";
import { flockKindOf } from "./native/gate.js";

export interface RunTarget {
  path: string;
  /** The h5wasm mode the command will use the file in ("a" unless given). */
  mode: string;
  lock: LockMode;
}

/**
 * "data.h5:r" -> data.h5 in r; "data.h5" -> data.h5 in a; undefined for an unknown mode
 * ("data.h5:R", a typo, must not lock a file of that name and run the command unguarded).
 * A name with a colon in it is taken whole where that file exists ("run:2.h5").
 */
export function parseTarget(arg: string): RunTarget | undefined {
  const at = arg.lastIndexOf(":");
  const mode = at > 0 ? arg.slice(at + 1) : "";
  if (lockModeOf(mode)) return { path: arg.slice(0, at), mode, lock: lockModeOf(mode)! };
  if (at >= 0 && !existsSync(arg)) return undefined;
  return arg ? { path: arg, mode: "a", lock: lockModeOf("a")! } : undefined;
}

/** Waits (polling from 1 ms, backing off to 100 ms) until no native program holds a flock that the command's mode conflicts with. */
async function nativeClear(target: RunTarget, say: (s: string) => void): Promise<void> {
  const kind = flockKindOf(target.lock);
  if (!kind) return; // a SWMR writer takes no flock
  let delay = 1;
  let said = false;
  for (;;) {
    const others = nativeHolders(target.path).filter((h) => !h.self && (kind === "exclusive" || h.mode === "exclusive"));
    if (others.length === 0) return;
    if (!said) say(`waiting for ${describeHolders(others)} on ${target.path}`);
    said = true;
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 100);
  }
}

/** Runs `command` once every target is free for it; resolves with the exit code to give (128 + signal number for a signal). */
export async function runUnderLock(targets: RunTarget[], command: string[], options: { lockDir?: string }, say: (s: string) => void): Promise<number> {
  const held: HeldLock[] = [];
  // One order for every process: two commands naming the same files in opposite orders
  // would otherwise each hold its first and wait for the other's for ever.
  const ordered = targets.map((t) => ({ ...t, ...resolvePath(t.path) })).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  try {
    for (const t of ordered) {
      held.push(await acquire(t.path, t.lock, { ...options, id: t.id }));
      await nativeClear(t, say);
    }
    return await new Promise<number>((resolve) => {
      const child = spawn(command[0], command.slice(1), { stdio: "inherit" });
      // Signals reach the command (its process group gets a terminal's Ctrl-C anyway);
      // this process stays until it ends, to let go of the locks after it.
      const forward = (signal: NodeJS.Signals) => child.kill(signal);
      const signals: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
      for (const s of signals) process.on(s, forward);
      child.on("error", (e) => {
        say(`cannot run ${command[0]}: ${e.message}`);
        resolve(127);
      });
      child.on("exit", (code, signal) => {
        for (const s of signals) process.off(s, forward);
        resolve(signal ? 128 + (constants.signals[signal] ?? 0) : (code ?? 1));
      });
    });
  } finally {
    for (const h of held) h.release(true);
  }
}
