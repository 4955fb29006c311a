// The four lock modes and which of them may be held at once: the whole vocabulary the
// lock has. It knows the names and the table, nothing of what a file or HDF5 is.

export type LockMode = "shared" | "swmr-read" | "exclusive" | "swmr-write";

export const LOCK_MODES: readonly LockMode[] = ["shared", "swmr-read", "exclusive", "swmr-write"];

// held -> wanted -> may coexist. Close to HDF5's own file locking between processes
// (which, unlike this lock, never waits and also refuses a SWMR writer beside a SWMR
// reader that holds the file: see docs/architecture.md).
const COEXIST: Record<LockMode, Record<LockMode, boolean>> = {
  shared: { shared: true, "swmr-read": true, exclusive: false, "swmr-write": false },
  "swmr-read": { shared: true, "swmr-read": true, exclusive: false, "swmr-write": true },
  exclusive: { shared: false, "swmr-read": false, exclusive: false, "swmr-write": false },
  "swmr-write": { shared: false, "swmr-read": true, exclusive: false, "swmr-write": false },
};

export function compatible(held: LockMode, wanted: LockMode): boolean {
  return COEXIST[held][wanted];
}

/**
 * Whether holding `to` instead of `from` can only let more others in: every mode that
 * `to` refuses, `from` refuses too. Such a change needs nobody's consent.
 */
export function relaxes(from: LockMode, to: LockMode): boolean {
  return LOCK_MODES.every((other) => compatible(to, other) || !compatible(from, other));
}

/** Whether a lock held as `held` refuses everything that `wanted` refuses (so it can stand for it). */
export function covers(held: LockMode, wanted: LockMode): boolean {
  return relaxes(held, wanted);
}

// By what they refuse, the modes form a chain: swmr-read ⊂ shared ⊂ swmr-write ⊂ exclusive
// (a lattice written once: the table above). How many modes one refuses orders them.
const STRENGTH = Object.fromEntries(LOCK_MODES.map((m) => [m, LOCK_MODES.filter((o) => !compatible(m, o)).length])) as Record<LockMode, number>;

/** The weakest mode that refuses everything any of `modes` refuses (undefined when none). */
export function combine(modes: Iterable<LockMode | undefined>): LockMode | undefined {
  let best: LockMode | undefined;
  for (const mode of modes) if (mode && (best === undefined || STRENGTH[mode] > STRENGTH[best])) best = mode;
  return best;
}
