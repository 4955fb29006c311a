// The settings one lock request runs with: per call where given, else this thread's.

import { settings, type Options } from "../config.js";

export type LockOptions = Pick<Options, "timeoutMs" | "warnAfterMs" | "remoteStaleMs" | "lockDir">;

export function lockOptions(options?: Partial<LockOptions>): LockOptions {
  const s = settings();
  return {
    timeoutMs: options?.timeoutMs ?? s.timeoutMs,
    warnAfterMs: options?.warnAfterMs ?? s.warnAfterMs,
    remoteStaleMs: options?.remoteStaleMs ?? s.remoteStaleMs,
    lockDir: options && "lockDir" in options ? options.lockDir : s.lockDir,
  };
}
