// Who this thread is, and whether the holder behind a record still exists. On the same
// host a holder is alive exactly as long as its process and its OS thread exist (checked
// in /proc, with start times so that a reused id is not mistaken for the holder); a busy
// holder is never judged dead. Holders on other hosts can only be judged by the age of
// their heartbeat (the record's mtime, refreshed by held-lock.ts).

import { readFileSync, readlinkSync, statSync } from "node:fs";
import { hostname } from "node:os";
import { threadId } from "node:worker_threads";
import { recordAgeMs } from "./folders.js";
import type { LockRecord } from "./record.js";

export interface Identity {
  host: string;
  /** This boot of the host (the start of /proc/sys/kernel/random/boot_id; "0" where unknown). */
  boot: string;
  /** The PID namespace (its inode, from /proc/self/ns/pid; "0" where unknown): pids and /proc mean something only within it. */
  pidns: string;
  pid: number;
  /** Process start time in clock ticks since boot ("0" where unknown). */
  pidStart: string;
  tid: number;
  tidStart: string;
  threadId: number;
}

// What a failed read of /proc says: gone (ENOENT, ESRCH), cannot tell (EACCES, EPERM:
// hidepid, another user); anything else (EMFILE, ENOMEM...) says nothing and is thrown:
// read as gone, a live holder would be reaped.
const GONE = new Set(["ENOENT", "ESRCH"]);
const HIDDEN = new Set(["EACCES", "EPERM"]);

function unreadable(e: unknown): "gone" | "hidden" {
  const code = (e as NodeJS.ErrnoException).code ?? "";
  if (GONE.has(code)) return "gone";
  if (HIDDEN.has(code)) return "hidden";
  throw e;
}

/** Reads state and start time from a /proc stat file; undefined when it is gone, null when it cannot be read. */
function procStat(path: string): { state: string; start: string } | undefined | null {
  let text: string;
  try {
    text = readFileSync(path, "latin1");
  } catch (e) {
    return unreadable(e) === "gone" ? undefined : null;
  }
  // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { state: fields[0], start: fields[19] };
}

let hasProc: boolean | undefined;
function procAvailable(): boolean {
  if (hasProc === undefined) {
    try {
      readlinkSync("/proc/thread-self");
      hasProc = true;
    } catch {
      hasProc = false;
    }
  }
  return hasProc;
}

function readOr(path: string, pick: (text: string) => string): string {
  try {
    return pick(readFileSync(path, "latin1")) || "0";
  } catch (e) {
    unreadable(e); // not there, or not ours to read: unknown ("0"); out of descriptors: thrown, not kept
    return "0";
  }
}

function pidNamespace(): string {
  try {
    return /\[(\d+)\]/.exec(readlinkSync("/proc/self/ns/pid"))?.[1] ?? "0";
  } catch (e) {
    unreadable(e);
    return "0";
  }
}

let self: Identity | undefined;
/** This thread's identity (computed once per thread). */
export function identity(): Identity {
  if (self) return self;
  const host = hostname();
  const pid = process.pid;
  let tid = pid;
  let pidStart = "0";
  let tidStart = "0";
  if (procAvailable()) {
    tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
    // Both or neither: a process start time without its thread's would make every
    // record of this thread look dead to others (and the reverse, never dead).
    const p = procStat(`/proc/${pid}/stat`)?.start;
    const t = procStat(`/proc/${pid}/task/${tid}/stat`)?.start;
    if (p && t) [pidStart, tidStart] = [p, t];
  }
  self = { host, boot: readOr("/proc/sys/kernel/random/boot_id", (t) => t.replace(/[^0-9a-f]/g, "").slice(0, 16)), pidns: pidNamespace(), pid, pidStart, tid, tidStart, threadId };
  return self;
}

/** The uid that owns a process (its /proc entry); undefined where it is gone or cannot be read. */
function processUid(pid: number): number | undefined {
  try {
    return statSync(`/proc/${pid}`).uid;
  } catch (e) {
    unreadable(e);
    return undefined;
  }
}

/** Whether process `pid` exists (in this PID namespace), for kill(pid, 0): EPERM says it does. */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Whether a holder in this PID namespace and boot still exists: its process and OS thread,
 * with the start times in its record (a reused id is not the holder). Zombies count as
 * gone: a parent blocked in a wait cannot reap its killed child, and must not wait for it
 * forever. Undefined where /proc cannot tell: the process exists but its entry cannot be
 * read (hidepid, another user), or there is no /proc.
 */
function aliveOnThisHost(r: LockRecord): boolean | undefined {
  if (!procAvailable() || r.tidStart === "0") return processExists(r.pid) ? undefined : false;
  const proc = procStat(`/proc/${r.pid}/stat`);
  if (!proc) return processExists(r.pid) ? undefined : false; // hidden (hidepid=2), or gone
  if (proc.start !== r.pidStart || proc.state === "Z" || proc.state === "X") return false;
  // A record its claimed process cannot have made (another user wrote it, naming, say,
  // pid 1) is no holder: ignored, never waited for. (An owner that cannot be read: the
  // thread's entry below decides.)
  const owner = r.uid !== undefined && r.uid !== 0 ? processUid(r.pid) : undefined;
  if (owner !== undefined && owner !== r.uid) return false;
  const task = procStat(`/proc/${r.pid}/task/${r.tid}/stat`);
  if (task === null) return undefined; // cannot tell
  return !!task && task.start === r.tidStart && task.state !== "Z" && task.state !== "X";
}

function heartbeatFresh(r: LockRecord, remoteStaleMs: number): boolean {
  const age = recordAgeMs(r);
  return age !== undefined && age < remoteStaleMs;
}

/**
 * Whether the holder or waiter behind a record still exists. /proc is evidence only within
 * this PID namespace and boot, and only where it can be read; a holder anywhere else (another
 * host, a container with the host's name but its own PID namespace, a process hidden by
 * hidepid) is judged by its heartbeat, never dead by its absence from /proc.
 */
export function isAlive(r: LockRecord, remoteStaleMs: number): boolean {
  const me = identity();
  const local = r.host === me.host && r.boot === me.boot && r.pidns === me.pidns && me.boot !== "0" && me.pidns !== "0";
  const seen = local ? aliveOnThisHost(r) : undefined;
  return seen ?? heartbeatFresh(r, remoteStaleMs);
}
