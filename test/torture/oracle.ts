// The torture test's oracle: a pure function from what the actors logged (and the main
// file's final counter) to a list of violations. It knows nothing of the lock's records:
// its evidence is the actors' ordering logs (one clock for the whole machine, see
// common.ts nowUs) and what HDF5 and the data in the files said.
//
// What it checks:
// - overlap: two threads held conflicting modes at the same time, by the coexistence
//   table of DESIGN.md (copied here, not imported: the oracle must not trust the code it
//   checks). A thread's hold is what HDF5 has open in that thread, modelled from its log:
//   * a reader handle holds its mode (r: shared, Sr: swmr-read) from the moment its open
//     returned to the moment its close was called; but an r that joined an instance its
//     thread opened with Sr counts as swmr-read: HDF5 opens it within that SWMR-read
//     instance, where it reads as a SWMR reader (DESIGN.md lets "r beside Sr" join, and
//     the patch passes such a reopen to HDF5, which accepts it). An instance opened with
//     r refuses a later Sr (HDF5's rule), and one opened by a writer is covered below,
//     so bug 2's case (a, r, Sr, then close a) is still reported, by what HDF5 refuses;
//   * once a writer handle (a, w, Sa) opened, the thread's HDF5 instance has the file
//     open for writing until the last handle of that thread on the file closes, whatever
//     the handles' modes: HDF5 keeps the file open read-write for a read-only handle that
//     joined a writer. So the thread holds exclusive (swmr-write for Sa, and from the
//     moment start_swmr_write is called) from the writer's open return to the close call
//     of its last handle.
//   Opens are placed where HDF5 made them (placeOpens: the actor logs HDF5's own open
//   returning), not where they reported: an async open reports later, and another task
//   of the thread may have closed the last other handle in between.
//   Each interval lies inside the true holding (the lock is taken before the open returns
//   and let go after close is called), so an intersection of two intervals is a real
//   overlap; `marginUs` (default 0) asks for intersections longer than that.
// - refused-open: an open that HDF5 refused (file_id -1, or an exception), or the explicit
//   API refused (ENOTHDF5, EREOPEN...), although the lock admitted it, where no other
//   handle or open of the same thread on the same file explains it (HDF5's own rules
//   refuse some reopens within one instance: those are explained). On the crash file,
//   failures are expected after a kill in the middle of a write: counted, not violations.
// - torn-read: a reader saw /torn not all one value, or /swmr not a prefix of 1, 2, 3...
// - lost-update: two read-modify-write sessions read the same counter value; or the final
//   counter is below the number of acknowledged sessions (a session is acknowledged when
//   its handle's close returned), or above it plus those that may have written before
//   they were killed or failed; or an acknowledged session's ring slot holds another id.
// - io-error: a read or write failed on main or w inside an admitted session.
// - actor-error: an unexpected exception in an actor (a bug of the test or of the package).

import type { FileKey, H5Mode, LogEvent } from "./common.js";
import { RING } from "./common.js";

export type LockMode = "shared" | "swmr-read" | "exclusive" | "swmr-write";

/** DESIGN.md's table: held -> wanted -> may coexist. */
const COEXIST: Record<LockMode, Record<LockMode, boolean>> = {
  shared: { shared: true, "swmr-read": true, exclusive: false, "swmr-write": false },
  "swmr-read": { shared: true, "swmr-read": true, exclusive: false, "swmr-write": true },
  exclusive: { shared: false, "swmr-read": false, exclusive: false, "swmr-write": false },
  "swmr-write": { shared: false, "swmr-read": true, exclusive: false, "swmr-write": false },
};

export function coexist(a: LockMode, b: LockMode): boolean {
  return COEXIST[a][b] && COEXIST[b][a];
}

export function lockOf(mode: H5Mode): LockMode {
  switch (mode) {
    case "r":
      return "shared";
    case "Sr":
      return "swmr-read";
    case "Sa":
      return "swmr-write";
    default:
      return "exclusive";
  }
}

export type ViolationKind =
  | "overlap"
  | "lost-update"
  | "torn-read"
  | "refused-open"
  | "io-error"
  | "actor-error"
  | "stuck"
  | "left-records"
  | "crash"
  | "final-state";

export interface Violation {
  kind: ViolationKind;
  message: string;
  file?: FileKey;
  actors?: string[];
  /** µs on the run's clock. */
  t?: number;
}

export interface ActorLog {
  actor: string;
  events: LogEvent[];
  /** The actor was killed: SIGKILL of its process or terminate() of its worker, called at t. */
  death?: { t: number; how: "sigkill" | "terminate" };
}

export interface FinalState {
  counter: number;
  ring: ArrayLike<number>;
}

export interface OracleInput {
  actors: ActorLog[];
  /** main.h5's /counter and /ring at the end; absent when the run was aborted. */
  final?: FinalState;
  ringSize?: number;
  marginUs?: number;
  /** Times in messages are shown relative to this (µs); default the first event. */
  originUs?: number;
}

export interface Stats {
  /** Successful opens by h5wasm mode, and by way of opening. */
  opens: Record<string, number>;
  opensByVia: Record<string, number>;
  /** Refusals explained by the thread's own handles (HDF5's same-instance rules). */
  refusedExplained: number;
  /**
   * start_swmr_write calls that HDF5 refused on a handle alone in its thread. Not an open
   * the lock admitted (the handle holds its lock already), so not a violation; counted and
   * listed, as the log cannot tell HDF5's reasons apart (libver bounds of the instance,
   * "already in SWMR writing mode").
   */
  swmrRefusedAlone: string[];
  /** Failures on the crash file (expected after kills in the middle of writes). */
  crashFileFailures: number;
  swmrStarts: number;
  /** Read-modify-write sessions acknowledged, and written but not acknowledged. */
  rmwAcked: number;
  rmwUnacked: number;
  tornChecks: number;
  /** Time from an open's call to its return, ms, sorted. */
  waitsMs: number[];
  segments: number;
}

export interface Segment {
  actor: string;
  file: FileKey;
  mode: LockMode;
  start: number;
  end: number;
  what: string;
}

interface Pending {
  m: H5Mode;
  via: string;
  t: number;
  sc?: string;
  /** The thread had other handles open, or other opens in flight, on the file at the call. */
  ctx: boolean;
}

interface Instance {
  /** Mode of the handle that opened the instance (the first to return). */
  first: H5Mode;
  writer?: { t: number; mode: LockMode; h: number; m: H5Mode; note: string };
  swmrAt?: number;
  readers: { mode: LockMode; start: number; end: number; h: number; m: H5Mode }[];
}

interface FileState {
  handles: Map<number, { m: H5Mode; t: number }>;
  pending: Map<number, Pending>;
  inst?: Instance;
}

const rel = (t: number, origin: number) => `${((t - origin) / 1000).toFixed(3)} ms`;

export function oracle(input: OracleInput): { violations: Violation[]; stats: Stats; segments: Segment[] } {
  const margin = input.marginUs ?? 0;
  const ringSize = input.ringSize ?? RING;
  const origin = input.originUs ?? Math.min(...input.actors.flatMap((a) => (a.events.length ? [a.events[0].t] : [])), Infinity);
  const violations: Violation[] = [];
  const segments: Segment[] = [];
  const stats: Stats = {
    opens: {},
    opensByVia: {},
    refusedExplained: 0,
    swmrRefusedAlone: [],
    crashFileFailures: 0,
    swmrStarts: 0,
    rmwAcked: 0,
    rmwUnacked: 0,
    tornChecks: 0,
    waitsMs: [],
    segments: 0,
  };
  const rmws: { actor: string; h: number; c: number; sid: number; t: number; acked: boolean }[] = [];
  const refusals: { v: Violation; actor: string; file: FileKey; mode: LockMode; from: number; to: number }[] = [];
  let unclosedMainWriters = 0;

  for (const a of input.actors) {
    const files: Record<string, FileState> = {};
    const fileOf = new Map<number, FileKey>();
    const modeOf = new Map<number, H5Mode>();
    const closed = new Set<number>();
    const st = (f: FileKey) => (files[f] ??= { handles: new Map(), pending: new Map() });
    const last = a.events.length ? a.events[a.events.length - 1].t : 0;
    const endOfLife = a.death?.t ?? last;

    const finish = (file: FileKey, inst: Instance, end: number, open: Map<number, { m: H5Mode; t: number }>) => {
      for (const [h, hd] of open) {
        if (!isWriter(hd.m)) inst.readers.push({ mode: lockOf(hd.m), start: hd.t, end, h, m: hd.m });
      }
      const w = inst.writer;
      if (w) {
        const what = `${w.m} handle #${w.h}${w.note} and the handles of its instance`;
        if (inst.swmrAt !== undefined && w.mode === "exclusive" && inst.swmrAt > w.t) {
          segments.push({ actor: a.actor, file, mode: "exclusive", start: w.t, end: inst.swmrAt, what });
          segments.push({ actor: a.actor, file, mode: "swmr-write", start: inst.swmrAt, end, what: `${what} after start_swmr_write` });
        } else {
          segments.push({ actor: a.actor, file, mode: inst.swmrAt !== undefined ? "swmr-write" : w.mode, start: w.t, end, what });
        }
      }
      for (const r of inst.readers) {
        if (w && r.start >= w.t) continue; // inside the writer's hold, which says more
        const mode = inst.first === "Sr" ? "swmr-read" : r.mode;
        segments.push({ actor: a.actor, file, mode, start: r.start, end: r.end, what: `${r.m} handle #${r.h}${r.m !== inst.first ? ` (in an instance opened ${inst.first})` : ""}` });
      }
    };

    for (const ev of placeOpens(a.events)) {
      switch (ev.k) {
        case "open": {
          fileOf.set(ev.h, ev.f);
          modeOf.set(ev.h, ev.m);
          const s = st(ev.f);
          s.pending.set(ev.h, { m: ev.m, via: ev.via, t: ev.t, sc: ev.sc, ctx: s.handles.size > 0 || s.pending.size > 0 });
          break;
        }
        case "opened": {
          const file = fileOf.get(ev.h);
          if (!file) break;
          const s = st(file);
          const p = s.pending.get(ev.h);
          if (!p) break;
          s.pending.delete(ev.h);
          s.handles.set(ev.h, { m: p.m, t: ev.t });
          stats.opens[p.m] = (stats.opens[p.m] ?? 0) + 1;
          stats.opensByVia[p.via] = (stats.opensByVia[p.via] ?? 0) + 1;
          stats.waitsMs.push((ev.t - p.t) / 1000);
          if (!s.inst) {
            // Placed where HDF5 opened it (placeOpens), the first to open made the instance.
            // A log without "hdf5" lines (older, or hand-made) only has when opens
            // reported: an async open reports a microtask or more after its HDF5 open, so
            // a synchronous reopen may report first. With an Sr (Sa) open of the thread
            // still reporting, the instance may be that SWMR one: take the mode that lets
            // more in (no false overlap).
            const pendingModes = new Set([...s.pending.values()].map((x) => x.m));
            const first = "exact" in ev ? p.m : p.m === "r" && pendingModes.has("Sr") ? "Sr" : p.m === "a" && pendingModes.has("Sa") ? "Sa" : p.m;
            s.inst = { first, readers: [] };
          }
          if (isWriter(p.m) && !s.inst.writer) {
            // Opened while another open of this thread on the file was still under way.
            const beside = [...s.pending.keys()].map((h) => `#${h}`);
            const note = beside.length ? `, opened while open ${beside.join(", ")} of this thread was pending` : "";
            s.inst.writer = { t: ev.t, mode: s.inst.first === "Sa" ? "swmr-write" : lockOf(p.m), h: ev.h, m: p.m, note };
          }
          break;
        }
        case "refused": {
          const file = fileOf.get(ev.h);
          if (!file) break;
          const s = st(file);
          const p = s.pending.get(ev.h);
          s.pending.delete(ev.h);
          if (p) stats.waitsMs.push((ev.t - p.t) / 1000);
          if (file === "crash") {
            stats.crashFileFailures++;
          } else if (p?.ctx || s.handles.size > 0 || s.pending.size > 0) {
            stats.refusedExplained++;
          } else {
            const v: Violation = {
              kind: "refused-open",
              file,
              actors: [a.actor],
              t: ev.t,
              message: `${a.actor}: open #${ev.h} of ${file} as "${p?.m}" via ${p?.via}${p?.sc ? ` (${p.sc})` : ""} was admitted by the lock and refused (${ev.code}${ev.msg ? `: ${ev.msg}` : ""}) at ${rel(ev.t, origin)}, with no other handle of this thread on the file`,
            };
            violations.push(v);
            if (p) refusals.push({ v, actor: a.actor, file, mode: lockOf(p.m), from: p.t, to: ev.t });
          }
          break;
        }
        case "swmr": {
          const file = fileOf.get(ev.h);
          if (!file) break;
          const s = st(file);
          if (ev.ok) {
            stats.swmrStarts++;
            if (s.inst?.writer && s.inst.swmrAt === undefined) s.inst.swmrAt = ev.t;
          } else if (file === "crash") {
            stats.crashFileFailures++;
          } else if (s.handles.size > 1) {
            // Another handle of the thread (another task's Sa, say) shares the instance:
            // HDF5's rules within one instance ("file already in SWMR writing mode").
            stats.refusedExplained++;
          } else {
            stats.swmrRefusedAlone.push(`${a.actor} #${ev.h} of ${file} at ${rel(ev.t, origin)}`);
          }
          break;
        }
        case "close": {
          const file = fileOf.get(ev.h);
          if (!file) break;
          const s = st(file);
          const hd = s.handles.get(ev.h);
          if (!hd) break;
          s.handles.delete(ev.h);
          if (!isWriter(hd.m)) s.inst?.readers.push({ mode: lockOf(hd.m), start: hd.t, end: ev.t, h: ev.h, m: hd.m });
          if (s.handles.size === 0 && s.inst) {
            finish(file, s.inst, ev.t, new Map());
            s.inst = undefined;
          }
          break;
        }
        case "closed":
          if (!ev.err) closed.add(ev.h);
          break;
        case "rmw":
          rmws.push({ actor: a.actor, h: ev.h, c: ev.c, sid: ev.sid, t: ev.t, acked: false });
          break;
        case "torn":
          violations.push({
            kind: "torn-read",
            file: fileOf.get(ev.h),
            actors: [a.actor],
            t: ev.t,
            message: `${a.actor}: handle #${ev.h} (${modeOf.get(ev.h)}) of ${fileOf.get(ev.h)} read ${ev.what} at ${rel(ev.t, origin)}`,
          });
          break;
        case "ioerr": {
          const file = fileOf.get(ev.h);
          const s = file ? st(file) : undefined;
          if (file === "crash") stats.crashFileFailures++;
          else if (s && [...s.handles].some(([h, hd]) => h !== ev.h && hd.m === "w")) {
            // The thread's own "w" handle of the file truncated it and has not written yet:
            // the reader shares that instance (HDF5's rules within one thread).
            stats.refusedExplained++;
          } else
            violations.push({
              kind: "io-error",
              file,
              actors: [a.actor],
              t: ev.t,
              message: `${a.actor}: ${ev.op} on handle #${ev.h} (${modeOf.get(ev.h)}) of ${file} failed at ${rel(ev.t, origin)}: ${ev.msg}`,
            });
          break;
        }
        case "tolerated":
          stats.crashFileFailures++;
          break;
        case "error":
          violations.push({ kind: "actor-error", actors: [a.actor], t: ev.t, message: `${a.actor} task ${ev.task}: ${ev.msg}` });
          break;
        default:
          break;
      }
    }
    // Handles never closed: the actor was killed (or failed); it held them until its end.
    for (const [file, s] of Object.entries(files) as [FileKey, FileState][]) {
      if (file === "main") for (const hd of s.handles.values()) if (isWriter(hd.m)) unclosedMainWriters++;
      if (s.inst) finish(file, s.inst, Math.max(endOfLife, ...[...s.handles.values()].map((h) => h.t)), s.handles);
    }
    for (const r of rmws) if (r.actor === a.actor && closed.has(r.h)) r.acked = true;
  }

  // Overlaps: per file, conflicting segments of different threads that intersect.
  for (const file of new Set(segments.map((s) => s.file))) {
    const segs = segments.filter((s) => s.file === file && s.end > s.start).sort((x, y) => x.start - y.start);
    let active: Segment[] = [];
    for (const s of segs) {
      active = active.filter((x) => x.end - s.start > margin);
      for (const x of active) {
        if (x.actor === s.actor || coexist(x.mode, s.mode)) continue;
        const overlap = Math.min(x.end, s.end) - s.start;
        if (overlap <= margin) continue;
        violations.push({
          kind: "overlap",
          file,
          actors: [x.actor, s.actor],
          t: s.start,
          message:
            `${file}: ${x.actor} held ${x.mode} (${x.what}) from ${rel(x.start, origin)} to ${rel(x.end, origin)} ` +
            `while ${s.actor} held ${s.mode} (${s.what}) from ${rel(s.start, origin)} to ${rel(s.end, origin)}: ${(overlap / 1000).toFixed(3)} ms together`,
        });
      }
      active.push(s);
    }
  }
  stats.segments = segments.length;

  // What other threads held while a refused open was under way: the likely explanation.
  for (const r of refusals) {
    // Those still held when the refusal came back first, then the latest to end.
    const during = segments
      .filter((s) => s.file === r.file && s.actor !== r.actor && s.start < r.to && s.end > r.from && !coexist(s.mode, r.mode))
      .sort((x, y) => Number(y.end >= r.to) - Number(x.end >= r.to) || y.end - x.end);
    if (during.length) {
      r.v.message += `; meanwhile ${during
        .slice(0, 3)
        .map((s) => `${s.actor} held ${s.mode} (${s.what}, ${rel(s.start, origin)} to ${rel(s.end, origin)})`)
        .join(", ")}`;
      r.v.actors = [r.actor, ...new Set(during.map((s) => s.actor))];
    }
  }

  // Lost updates: read-modify-write sessions that read the same value, then the final state.
  const byC = new Map<number, typeof rmws>();
  for (const r of rmws) {
    const list = byC.get(r.c) ?? [];
    list.push(r);
    byC.set(r.c, list);
  }
  for (const [c, list] of byC) {
    if (list.length > 1) {
      violations.push({
        kind: "lost-update",
        file: "main",
        actors: list.map((r) => r.actor),
        t: list[0].t,
        message: `main: ${list.length} read-modify-write sessions read counter ${c} and wrote ${c + 1}: ${list.map((r) => `${r.actor} #${r.h} at ${rel(r.t, origin)}`).join(", ")}`,
      });
    }
  }
  const acked = rmws.filter((r) => r.acked);
  stats.rmwAcked = acked.length;
  stats.rmwUnacked = rmws.length - acked.length;
  if (input.final) {
    const { counter, ring } = input.final;
    // Each writer session writes the counter at most twice (the swmr scenario does it
    // before and after start_swmr_write).
    const upper = acked.length + stats.rmwUnacked + 2 * unclosedMainWriters;
    if (counter < acked.length) {
      violations.push({ kind: "lost-update", file: "main", message: `main: final counter ${counter} < ${acked.length} acknowledged read-modify-write sessions (${acked.length - counter} lost)` });
    } else if (counter > upper) {
      violations.push({ kind: "final-state", file: "main", message: `main: final counter ${counter} > ${acked.length} acknowledged + ${upper - acked.length} possibly written by unacknowledged sessions` });
    }
    for (const r of acked) {
      if ((byC.get(r.c)?.length ?? 0) > 1 || r.c + ringSize < counter) continue; // reported, or its slot reused since
      const got = ring[r.c % ringSize];
      if (got !== r.sid) {
        violations.push({
          kind: "lost-update",
          file: "main",
          actors: [r.actor],
          message: `main: ring slot ${r.c} holds ${got}, not ${r.sid} written by ${r.actor} #${r.h} at ${rel(r.t, origin)}`,
        });
      }
    }
  }
  stats.waitsMs.sort((x, y) => x - y);
  return { violations, stats, segments };
}

type Placed = LogEvent | (Extract<LogEvent, { k: "opened" }> & { exact: true });

/**
 * The log with each open put where HDF5 made it: an "opened" that names its file id moves
 * to the latest "hdf5" line of that id before it (and takes its time). Within a thread
 * nothing runs between HDF5's open and that line, so the order of opens and closes is
 * then HDF5's own: an async open that joined the thread's file object before another
 * task closed the last other handle is seen to join it, not to open a new one.
 */
export function placeOpens(events: LogEvent[]): Placed[] {
  const latest = new Map<string, number>();
  const placedAt = new Map<number, Placed>();
  const moved = new Set<number>();
  events.forEach((ev, i) => {
    if (ev.k === "hdf5") latest.set(ev.id, i);
    else if (ev.k === "opened" && ev.id !== undefined) {
      const j = latest.get(ev.id);
      if (j === undefined) return;
      latest.delete(ev.id);
      placedAt.set(j, { ...ev, t: events[j].t, exact: true });
      moved.add(i);
    }
  });
  return events.flatMap((ev, i) => (moved.has(i) ? [] : [placedAt.get(i) ?? ev]));
}

function isWriter(m: string): boolean {
  return m === "a" || m === "w" || m === "x" || m === "Sa";
}

/** The p-th percentile (0..100) of sorted values. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}
