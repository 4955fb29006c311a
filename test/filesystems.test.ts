// File systems unlike the ext4 or tmpfs the other tests run on.

import { expect } from "chai";
import { spawn, spawnSync } from "node:child_process";
import { closeSync, mkdirSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { listNames } from "../src/lock/folders.js";
import { tempDir } from "./support/files.js";

describe("file systems", function () {
  this.timeout(60_000);

  describe("one that does not store entry types (ext2 without filetype; so are NFS without readdirplus, XFS without ftype)", function () {
    let t: ReturnType<typeof tempDir>;
    let mnt = "";

    before(function () {
      // A loop mount: root, util-linux and e2fsprogs needed; skipped (and said) without.
      if (process.getuid?.() !== 0) this.skip();
      t = tempDir("h5ts-fs-");
      const img = join(t.dir, "noft.img");
      mnt = join(t.dir, "mnt");
      mkdirSync(mnt);
      closeSync(openSync(img, "w"));
      spawnSync("truncate", ["-s", "16M", img]);
      const made = spawnSync("mkfs.ext2", ["-q", "-F", "-O", "^filetype", img], { encoding: "utf8" });
      const mounted = made.status === 0 && spawnSync("mount", ["-o", "loop", img, mnt], { encoding: "utf8" });
      if (!mounted || mounted.status !== 0) {
        console.log(`      (skipped: cannot make and mount an ext2 image: ${made.stderr || (mounted && mounted.stderr) || made.error}`.trim() + ")");
        mnt = "";
        this.skip();
      }
    });
    after(() => {
      if (mnt) spawnSync("umount", [mnt]);
      t?.cleanup();
    });

    it("a lock folder's listing keeps a holder's record while other names come and go (it read as empty: the holder was not seen)", async function () {
      const dir = join(mnt, "locks");
      mkdirSync(dir);
      writeFileSync(join(dir, "holder"), "x");
      // Another process makes and removes names in the folder the whole time.
      const churn = spawn(process.execPath, ["-e", `const fs = require("fs"); for (let i = 0; ; i++) { const p = ${JSON.stringify(dir)} + "/tmp" + (i % 50); fs.writeFileSync(p, ""); fs.unlinkSync(p); if (i === 100) fs.writeSync(1, "churning\\n"); }`], { stdio: ["ignore", "pipe", "inherit"] });
      try {
        await new Promise((resolve) => churn.stdout!.once("data", resolve)); // under way
        let missing = 0;
        for (let i = 0; i < 2000; i++) if (!listNames(dir).includes("holder")) missing++;
        expect(missing, "listings without the holder's record").to.equal(0);
      } finally {
        churn.kill("SIGKILL");
      }
    });
  });
});
