// A lock this thread holds: its record, kept fresh for other hosts, relaxed when the
// holder needs less, and let go (kept idle a moment for the thread's next open).

import { join } from "node:path";
import { debug } from "../debug.js";
import { aLock, warnNow } from "../errors.js";
import { letDescriptorGo, mark, touchRecord } from "./folders.js";
import { discard, putIdle, type OwnRecord } from "./idle.js";
import { relaxes, type LockMode } from "./modes.js";
import { wakeAll } from "./wake.js";

// Records this thread must keep fresh for holders on other hosts to see it alive. The
// timer stays while the thread holds anything, and stops at a beat that finds nothing.
const fresh = new Set<OwnRecord>();
let heartbeat: NodeJS.Timeout | undefined;

function keepFresh(record: OwnRecord, remoteStaleMs: number): void {
  fresh.add(record);
  // Bounded both ways: a timer longer than 2^31-1 ms would fire every millisecond instead.
  if (!heartbeat && Number.isFinite(remoteStaleMs)) heartbeat = setInterval(beat, Math.min(Math.max(remoteStaleMs / 4, 10), 2 ** 31 - 1)).unref();
}

let heartbeatWarned = false;

function beat(): void {
  for (const r of fresh) {
    const e = touchRecord(r.dir, r.name);
    // Judged by its heartbeat (another host, another PID namespace, a hidden /proc), a
    // holder whose heartbeat stops is taken for gone after remoteStaleMs: said once.
    if (e && !heartbeatWarned) {
      heartbeatWarned = true;
      warnNow("H5TS_HEARTBEAT", `cannot refresh the heartbeat of a lock record (${e.code ?? e.message}): ${join(r.dir, r.name)}; holders on other hosts or in other PID namespaces may take the lock for gone`, e);
    }
  }
  if (fresh.size === 0 && heartbeat) {
    clearInterval(heartbeat);
    heartbeat = undefined;
  }
}

// Held records whose descriptor this thread keeps open (a mark is one write): a few. The
// others are written through their path (folders.ts), so that a thread holding hundreds of
// files spends no descriptor on their records.
const MAX_HELD_DESCRIPTORS = 8;
let heldDescriptors = 0;

export class HeldLock {
  readonly path: string;
  readonly #record: OwnRecord;
  #mode: LockMode;
  #released = false;
  #counted = false;

  constructor(path: string, record: OwnRecord, remoteStaleMs: number) {
    this.path = path;
    this.#record = record;
    this.#mode = record.mode;
    if (record.fd !== undefined) {
      if (heldDescriptors < MAX_HELD_DESCRIPTORS) {
        heldDescriptors++;
        this.#counted = true;
      } else letDescriptorGo(record);
    }
    keepFresh(record, remoteStaleMs);
  }

  get mode(): LockMode {
    return this.#mode;
  }

  /** When its request began (µs since the epoch): its place in line. */
  get since(): number {
    return this.#record.since;
  }

  /** Changes the mode to one that lets more others in (never fewer: that would need to wait). */
  relaxTo(mode: LockMode): void {
    if (this.#released || mode === this.#mode) return;
    if (!relaxes(this.#mode, mode)) throw new Error(`cannot change ${aLock(this.#mode)} to ${mode} without waiting`);
    try {
      mark(this.#record, mode);
    } catch (e) {
      // Written through its path and gone meanwhile (removed by `clear --force`): nobody
      // sees it to be held back by it, as with a write through a descriptor of a removed file.
      if (this.#record.fd !== undefined) throw e;
    }
    debug("relax %s %s -> %s", this.path, this.#mode, mode);
    this.#mode = mode;
    wakeAll();
  }

  /**
   * Lets the lock go. Safe to call twice. The record is kept a moment for this thread's
   * next open of the file (marked free), or removed at once with `now` (an open that
   * failed: leave nothing behind).
   */
  release(now = false): void {
    if (this.#released) return;
    this.#released = true;
    if (this.#counted) heldDescriptors--;
    fresh.delete(this.#record);
    if (now) discard(this.#record);
    else putIdle(this.path, this.#record);
    wakeAll();
    if (debug.enabled) debug("release %s %s", this.path, this.#mode);
  }
}
