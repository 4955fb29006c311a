// Running agents as another local user: possible only as root, and only where that user
// can reach this checkout (a clone in a mode-700 home folder cannot be read by `nobody`).

import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export const NOBODY = 65534;

const AGENT = fileURLToPath(new URL("../fixtures/agent.js", import.meta.url));

let why: string | null | undefined;
/** Why agents cannot run as `nobody` here; null when they can. */
export function cannotRunAsNobody(): string | null {
  if (why !== undefined) return why;
  if (typeof process.getuid !== "function" || process.getuid() !== 0) return (why = "needs root, to start processes as nobody");
  const r = spawnSync(process.execPath, ["-e", `require("fs").accessSync(${JSON.stringify(AGENT)}, require("fs").constants.R_OK)`], {
    uid: NOBODY,
    gid: NOBODY,
    timeout: 10_000,
  });
  return (why = r.status === 0 ? null : `nobody cannot read this checkout (${AGENT}): clone it where other users may enter`);
}

/** In a before() hook: skips the suite, saying why, where agents cannot run as nobody. */
export function needNobody(ctx: Mocha.Context): void {
  const why = cannotRunAsNobody();
  if (!why) return;
  console.log(`      (skipped: ${why})`);
  ctx.skip();
}
