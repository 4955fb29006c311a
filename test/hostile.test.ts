// Whatever a lock folder holds is untrusted input: another local user may write the host's
// fallback folder (and any folder they may write). Nothing found there may make an open
// throw, hang, spin or wait for a holder that does not exist; opens here must succeed.

import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { chownSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { inspect } from "../src/index.js";
import { identity } from "../src/lock/liveness.js";
import { identityPart, nowMicros, recordName } from "../src/lock/record.js";
import { scenario } from "./support/scenario.js";
import { NOBODY } from "./support/users.js";

const CLI = fileURLToPath(new URL("../src/cli.js", import.meta.url));
const asRoot = process.getuid?.() === 0;

/** A record name as the format makes them, claiming `who`. */
function nameFor(who: Partial<ReturnType<typeof identity>>, mode: "exclusive" | "shared" = "exclusive"): string {
  return recordName(identityPart({ ...identity(), ...who }), mode, nowMicros() - 1_000_000);
}

describe("a hostile lock folder", function () {
  const s = scenario("h.h5");
  const lockDir = () => join(s.dir, ".h.h5.h5ts");

  /** An explicit open by a fresh process agent, bounded: it must succeed well before. */
  async function opensAnyway(mode = "a") {
    const a = await s.start("process", { name: "A" });
    const reply = await a.send({ cmd: "open", via: "explicit", file: s.file, mode, options: { timeoutMs: 5000 } });
    expect(reply.ok, `${reply.error?.code} ${reply.error?.message}`).to.equal(true);
    await a.do({ cmd: "close", index: reply.value.index });
    return a;
  }

  it("a FIFO named like a record neither hangs an open nor status", async function () {
    mkdirSync(lockDir());
    expect(spawnSync("mkfifo", [join(lockDir(), nameFor({ pid: 424242 }))]).status).to.equal(0);
    await opensAnyway();
    const r = spawnSync(process.execPath, [CLI, "status", s.file], { encoding: "utf8", timeout: 10_000 });
    expect(r.status, r.stderr).to.equal(0);
  });

  it("a symlink to /dev/zero named like a record is not followed", async function () {
    mkdirSync(lockDir());
    symlinkSync("/dev/zero", join(lockDir(), nameFor({ pid: 424243 })));
    await opensAnyway();
  });

  it("names with a bad % escape, or no number where one belongs, are not records (no URIError, no RangeError)", async function () {
    mkdirSync(lockDir());
    const good = nameFor({ pid: 424244 }).split(",");
    const forged = [[...good.slice(0, 1), "%E0%A4%A", ...good.slice(2)], good.map((f, i) => (i === 10 ? "soon" : f)), good.map((f, i) => (i === 4 ? "NaN" : f))];
    for (const f of forged) writeFileSync(join(lockDir(), f.join(",")), "x");
    await opensAnyway();
    const r = spawnSync(process.execPath, [CLI, "status", "--json", s.file], { encoding: "utf8", timeout: 10_000 });
    expect(r.status, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout)[0].holders).to.deep.equal([]);
  });

  it("a record naming a live process of another user that it cannot have made is not waited for", async function () {
    if (!asRoot) this.skip(); // needs root, to make a file owned by another user
    mkdirSync(lockDir());
    const init = readFileSync("/proc/1/stat", "latin1");
    const start = init.slice(init.lastIndexOf(")") + 2).split(" ")[19];
    const path = join(lockDir(), nameFor({ pid: 1, pidStart: start, tid: 1, tidStart: start, threadId: 0 }));
    writeFileSync(path, "x"); // holds exclusive, as pid 1
    chownSync(path, NOBODY, NOBODY); // ... but nobody made it
    expect(inspect(s.file).holders.length, "listed, as records are").to.equal(1);
    await opensAnyway("r");
  });

  it("a dangling symlink in the lock folder's place: no spin; the explicit API says ENOLOCKDIR, a drop-in open warns and goes on", async function () {
    symlinkSync(join(s.dir, "nowhere"), lockDir());
    const a = await s.start("process", { name: "A" });
    const explicit = await a.send({ cmd: "open", via: "explicit", file: s.file, mode: "r" });
    expect(explicit.error?.code).to.equal("ENOLOCKDIR");
    const dropIn = await a.do({ cmd: "open", file: s.file, mode: "r" });
    expect(BigInt(dropIn.fileId) >= 0n).to.equal(true);
    await a.exit();
    expect(a.stderr).to.include("H5TS_UNLOCKED").and.to.include("WITHOUT a lock");
  });
});
