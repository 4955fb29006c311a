// The record protocol as a pure decision: a request and a snapshot of the records in, a
// verdict out. Nothing here touches the file system; attempt.ts gathers the snapshot and
// acts. Why two conflicting requests can never both hold is in docs/architecture.md.

import { compatible, type LockMode } from "./modes.js";
import { earlier, modeOfName, type LockRecord, type RecordState } from "./record.js";

/** How long a waiter may be passed by a thread taking its idle record again (µs). */
export const BARGE_US = 20_000;

export interface Request {
  /** The request's own record: its name, the mode it asks for, when it began. */
  own: LockRecord;
  /**
   * What the own record shows while this snapshot is taken: "deferring" (just created, or
   * between looks), "waiting" (a look that may take the lock), or the mode itself (a
   * reused idle record, marked as holding before it looks).
   */
  shows: RecordState;
  /** Now, in the records' clock (µs since the epoch). */
  now: number;
}

/** One other record as listed: its state (undefined: gone meanwhile) and whether its owner lives. */
export interface Seen {
  record: LockRecord;
  state: RecordState | undefined;
  /** Read only where the verdict depends on it: a driver may compute it lazily. */
  readonly alive: boolean;
}

/** A record in the request's way, with the mode it holds or wants. */
export interface Blocker {
  record: LockRecord;
  mode: LockMode;
  waiting: boolean;
  /** A waiter that asked before the request: the request stands back behind it. */
  earlierWaiter: boolean;
}

export type Action =
  /** Nothing in the way and the own record shows it may take: take the lock. */
  | "take"
  /** Nothing ahead of it: mark the own record waiting, and look again before taking. */
  | "look"
  /** Conflicting waiters came first: stand back (deferring) until they are through. */
  | "stand-back"
  /** Others hold, or may be about to: wait (deferring), and look again later. */
  | "wait";

export interface Verdict {
  action: Action;
  blockers: Blocker[];
  /** Records of owners that are gone, to remove (a dead waiter or holder, or a dead thread's idle record). */
  reap: LockRecord[];
}

/** Records of one thread: a thread never waits for itself. */
function sameThread(a: LockRecord, b: LockRecord): boolean {
  return a.host === b.host && a.boot === b.boot && a.pidns === b.pidns && a.pid === b.pid && a.pidStart === b.pidStart && a.tid === b.tid && a.tidStart === b.tidStart && a.threadId === b.threadId;
}

function isMode(state: RecordState): state is LockMode {
  return state !== "waiting" && state !== "deferring" && state !== "free";
}

/**
 * Whether a record can matter to a request for `wanted`, judged by its name alone (cheaper
 * than reading it): not a record, asked for a compatible mode, or made by the requesting
 * thread itself (a thread never waits for itself) cannot.
 */
export function mayMatter(name: string, wanted: LockMode, ownIdentity: string): boolean {
  const mode = modeOfName(name);
  return mode !== undefined && !compatible(mode, wanted) && !name.startsWith(ownIdentity, 2);
}

/** What one record means to a request: nothing, a record to reap, or a blocker. */
export function judge(req: Request, seen: Seen): "ignore" | "reap" | Blocker {
  const { record: r, state } = seen;
  const wanted = req.own.mode;
  if (state === undefined || sameThread(r, req.own)) return "ignore";
  // Idle: in nobody's way. One whose thread is gone (a terminated worker never swept its
  // idle records) would keep the folder forever.
  if (state === "free") return seen.alive ? "ignore" : "reap";
  const waiting = !isMode(state);
  const mode = waiting ? r.mode : state;
  if (compatible(mode, wanted)) return "ignore"; // asked for, or relaxed to, a mode beside ours
  const isEarlier = earlier(r, req.own);
  // Standing back and later: it looks again before it takes anything. A reused record
  // (whose place in line is old) may pass it only while its wait is young.
  const reused = isMode(req.shows);
  if (state === "deferring" && !isEarlier && (!reused || req.now - r.since < BARGE_US)) return "ignore";
  if (!seen.alive) return "reap";
  return { record: r, mode, waiting, earlierWaiter: waiting && isEarlier };
}

/** The verdict on a request, given every other record of the file as seen now. */
export function decide(req: Request, snapshot: Iterable<Seen>): Verdict {
  const blockers: Blocker[] = [];
  const reap: LockRecord[] = [];
  for (const seen of snapshot) {
    const j = judge(req, seen);
    if (j === "reap") reap.push(seen.record);
    else if (j !== "ignore") blockers.push(j);
  }
  let action: Action;
  if (blockers.some((b) => b.earlierWaiter)) action = "stand-back";
  else if (req.shows === "deferring") action = "look";
  else action = blockers.length === 0 ? "take" : "wait";
  return { action, blockers, reap };
}

/** Whether a waiter we stand back for is still ahead of a request for `wanted`, in `state`. */
export function stillAhead(wanted: LockMode, state: RecordState | undefined): boolean {
  if (state === undefined || state === "free") return false;
  return !isMode(state) || !compatible(state, wanted);
}
