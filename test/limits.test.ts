// No new limits: what bare h5wasm opens, the patch opens too.

import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { tempDir } from "./support/files.js";
import { scenario } from "./support/scenario.js";

const MANY = fileURLToPath(new URL("./fixtures/many-files.js", import.meta.url));
const FULL = fileURLToPath(new URL("./fixtures/full-disk.js", import.meta.url));

describe("no new limits", function () {
  const s = scenario("unused.h5");

  it("a loop opening and closing 600 files in one turn works under ulimit -n 128, as bare h5wasm does", function () {
    this.timeout(120_000);
    const run = (patched: string) => {
      const r = spawnSync("sh", ["-c", `ulimit -n 128 && exec "${process.execPath}" "${MANY}" "${s.dir}" 600 ${patched}`], { encoding: "utf8" });
      return JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}");
    };
    expect(run("bare")).to.deep.equal({ ok: 600 });
    expect(run("patched")).to.deep.equal({ ok: 600 });
  });

  it("reading a file on a full disk works as with bare h5wasm: the record goes to the fallback folder, or the open goes on unlocked and says so", function () {
    if (process.getuid?.() !== 0) this.skip(); // mounting a small tmpfs needs root
    const mnt = tempDir("h5ts-full-");
    const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt.dir], { encoding: "utf8" });
    if (mounted.status !== 0) {
      mnt.cleanup();
      this.skip(); // no mount here (a container without the capability)
    }
    try {
      const file = join(mnt.dir, "full.h5");
      copyFileSync(s.file, file);
      // Fill what is left, to the last byte.
      try {
        writeFileSync(join(mnt.dir, "filler"), Buffer.alloc(1 << 20));
      } catch {
        // ENOSPC: full, as wanted
      }
      const run = (how: string, env: NodeJS.ProcessEnv = {}) => {
        const r = spawnSync(process.execPath, [FULL, file, how], { encoding: "utf8", env: { ...process.env, ...env } });
        return JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}");
      };
      const bare = run("bare");
      expect(bare.keys).to.deep.equal(["data"]);
      // Beside the file there is no room: the record goes to the host's fallback folder.
      expect(run("patched")).to.deep.equal({ keys: ["data"], warnings: [] });
      expect(run("explicit")).to.deep.equal({ keys: ["data"], warnings: [] });
      // With the fallback folder on the full disk as well: no lock can be made. The drop-in
      // open goes on and says so; the explicit API says ENOLOCKDIR.
      const noFallback = { H5TS_FALLBACK_DIR: join(mnt.dir, "fallback") };
      expect(run("patched", noFallback)).to.deep.equal({ keys: ["data"], warnings: ["H5TS_UNLOCKED"] });
      expect(run("explicit", noFallback).error).to.match(/^ENOLOCKDIR .*no space left/);
    } finally {
      spawnSync("umount", [mnt.dir]);
      mnt.cleanup();
    }
  });
});
