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

/** A writer mode: one that excludes other writers. */
export function isWriter(mode: LockMode): boolean {
  return mode === "exclusive" || mode === "swmr-write";
}

/**
 * Whether a thread that holds `held` may open the same file again as `wanted` without
 * asking anyone: an exclusive lock covers every mode; otherwise the new mode must be one
 * that could stand beside the held one (`Sr` beside swmr-write, `r` beside `Sr`).
 */
export function joinable(held: LockMode, wanted: LockMode): boolean {
  return held === "exclusive" || (compatible(held, wanted) && !isWriter(wanted));
}

// Strength order used to combine the modes of one thread's open handles.
const RANK: Record<LockMode, number> = { shared: 0, "swmr-read": 1, "swmr-write": 2, exclusive: 3 };

/** The strongest of the modes of a thread's open handles (undefined when none). */
export function combine(modes: Iterable<LockMode>): LockMode | undefined {
  let best: LockMode | undefined;
  for (const mode of modes) if (best === undefined || RANK[mode] > RANK[best]) best = mode;
  return best;
}

/**
 * Whether holding `to` instead of `from` can only let more others in: every mode that
 * `to` refuses, `from` refuses too. Such a change needs nobody's consent.
 * (shared is not a relaxation of swmr-read: it newly refuses swmr-write.)
 */
export function relaxes(from: LockMode, to: LockMode): boolean {
  return LOCK_MODES.every((other) => compatible(to, other) || !compatible(from, other));
}
