// Who this thread is, and whether the holder behind a record still exists. On the same
// host a holder is alive exactly as long as its process and its OS thread exist (checked
// in /proc, with start times so that a reused id is not mistaken for the holder); a busy
// holder is never judged dead. Holders on other hosts can only be judged by the age of
// their heartbeat (the record's mtime, refreshed by held-lock.ts).

import { readFileSync, readlinkSync } from "node:fs";
import { hostname } from "node:os";
import { threadId } from "node:worker_threads";
import { recordAgeMs } from "./folders.js";
import type { LockRecord } from "./record.js";

export interface Identity {
  host: string;
  pid: number;
  /** Process start time in clock ticks since boot ("0" where unknown). */
  pidStart: string;
  tid: number;
  tidStart: string;
  threadId: number;
}

/** Reads state and start time from a /proc stat file; undefined when it is gone. */
function procStat(path: string): { state: string; start: string } | undefined {
  let text: string;
  try {
    text = readFileSync(path, "latin1");
  } catch {
    return undefined;
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
    pidStart = procStat(`/proc/${pid}/stat`)?.start ?? "0";
    tidStart = procStat(`/proc/${pid}/task/${tid}/stat`)?.start ?? "0";
  }
  self = { host, pid, pidStart, tid, tidStart, threadId };
  return self;
}

/**
 * Whether a holder on this host still exists. Zombies count as gone: a parent blocked in
 * a wait cannot reap its killed child, and must not wait for it forever.
 */
function aliveOnThisHost(s: Identity): boolean {
  if (procAvailable() && s.tidStart !== "0") {
    const st = procStat(`/proc/${s.pid}/task/${s.tid}/stat`);
    if (!st || st.start !== s.tidStart || st.state === "Z" || st.state === "X") return false;
    const proc = procStat(`/proc/${s.pid}/stat`);
    return !!proc && proc.start === s.pidStart && proc.state !== "Z" && proc.state !== "X";
  }
  try {
    process.kill(s.pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function heartbeatFresh(r: LockRecord, remoteStaleMs: number): boolean {
  const age = recordAgeMs(r);
  return age !== undefined && age < remoteStaleMs;
}

/** Whether the holder or waiter behind a record still exists. */
export function isAlive(r: LockRecord, remoteStaleMs: number): boolean {
  if (r.host !== identity().host) return heartbeatFresh(r, remoteStaleMs);
  if (!aliveOnThisHost(r)) return false;
  // Without /proc a thread cannot be looked up (only its process): a record whose
  // thread ended (a terminated worker) is then judged by its heartbeat, as remote ones are.
  return r.tidStart !== "0" || heartbeatFresh(r, remoteStaleMs);
}
