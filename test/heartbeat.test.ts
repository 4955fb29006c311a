// A holder whose heartbeat cannot be refreshed is told: others that judge it by its
// heartbeat (another host, another PID namespace) would take its lock for gone.

import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { lockDirsFor } from "../src/lock/folders.js";
import { canonicalPath } from "../src/lock/path.js";
import { acquireSync } from "../src/lock/wait.js";
import { tempDir } from "./support/files.js";

describe("heartbeat", function () {
  this.timeout(20_000);

  it("a record whose heartbeat its file system refuses (made immutable) is said once (H5TS_HEARTBEAT), not left to go stale unheard", async function () {
    const t = tempDir("h5ts-heartbeat-");
    const file = join(t.dir, "f.h5");
    writeFileSync(file, "");
    const path = canonicalPath(file);
    const held = acquireSync(path, "exclusive", { remoteStaleMs: 40 }); // a beat every 10 ms
    const record = join(lockDirsFor(path, undefined).all[0], readdirSync(lockDirsFor(path, undefined).all[0])[0]);
    const warned = new Promise<Error & { code?: string }>((resolve) => {
      const on = (w: Error & { code?: string }) => {
        if (w.code !== "H5TS_HEARTBEAT") return;
        process.off("warning", on);
        resolve(w);
      };
      process.on("warning", on);
    });
    // Root and a file system with attributes (ext4 here): immutable, even root cannot touch it.
    const made = spawnSync("chattr", ["+i", record], { encoding: "utf8" });
    try {
      if (made.status !== 0) {
        console.log(`      (skipped: chattr +i failed: ${made.stderr || made.error})`.trim());
        this.skip();
      }
      // A deadline of its own (below mocha's), so that the record is made mutable again whatever happens.
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("no H5TS_HEARTBEAT warning in 15 s")), 15_000)));
      const w = await Promise.race([warned, deadline]).finally(() => clearTimeout(timer));
      expect(w.message).to.include(record);
    } finally {
      spawnSync("chattr", ["-i", record]);
      held.release();
      t.cleanup();
    }
  });
});
