// Issue 9: the owner of the host's fallback folder (any local user, if they made it first)
// may remove and rename what others put in it (it is sticky, and theirs). An old version
// made a per-file lock folder there and then chmod'ed it to 1777 BY PATH: swapped for a
// symlink between the two, the victim's own 0600 file became 01777. Here the attacker
// strikes at the exact moments (in the victim process's own fs calls: see
// fixtures/symlink-race.ts, no sleeps), or places symlinks before the victim opens; the
// victim's files and folders must keep their modes and receive no records, and the
// application must see only what the package promises where no lock can be made: a
// drop-in open warns (H5TS_UNLOCKED) and opens as bare h5wasm would, the explicit API
// fails with ENOLOCKDIR.
//
// The victim is `nobody` (a user who may read the file but not write its folder: its
// records go to the fallback), or root calling makeLockDir() itself; the attacker is
// another uid that owns the fallback folder. Needs root.

import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, lchownSync, lstatSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { inspect } from "../src/index.js";
import type { Case, Outcome } from "./fixtures/symlink-race.js";
import { makeH5, tempDir } from "./support/files.js";
import { NOBODY } from "./support/users.js";

const RACE = fileURLToPath(new URL("./fixtures/symlink-race.js", import.meta.url));
/** The attacker: a uid of no one on the host, that owns the fallback folder. */
const ATTACKER = 4242;

type Via = Case["via"];
interface Attack {
  title: string;
  vias: Via[];
  /** Whose file and folder are aimed at: nobody's (who opens) or root's (who calls makeLockDir). */
  victim: "nobody" | "root";
  /** What the symlink points to. */
  aim: "file" | "directory";
  /** Forced at a moment of the victim's folder making; or undefined: a symlink at the final name before the open. */
  race?: { at: "mkdir" | "rename"; swap: boolean; atFinal: boolean };
}

const attacks: Attack[] = [
  { title: "the new folder swapped for a symlink to the victim's file right after mkdir", vias: ["explicit", "dropin"], victim: "nobody", aim: "file", race: { at: "mkdir", swap: true, atFinal: false } },
  { title: "the new folder swapped for a symlink to the victim's directory right after mkdir", vias: ["explicit", "dropin"], victim: "nobody", aim: "directory", race: { at: "mkdir", swap: true, atFinal: false } },
  { title: "the new folder swapped, and a symlink put at the final name, right after mkdir", vias: ["explicit", "dropin"], victim: "nobody", aim: "file", race: { at: "mkdir", swap: true, atFinal: true } },
  { title: "a symlink to the victim's directory put at the final name right after mkdir", vias: ["explicit", "dropin"], victim: "nobody", aim: "directory", race: { at: "mkdir", swap: false, atFinal: true } },
  { title: "the folder, mode set, swapped for a symlink to the victim's file right before its rename into place", vias: ["explicit", "dropin"], victim: "nobody", aim: "file", race: { at: "rename", swap: true, atFinal: false } },
  { title: "a symlink to the victim's directory put at the final name right before the rename into place", vias: ["explicit", "dropin"], victim: "nobody", aim: "directory", race: { at: "rename", swap: false, atFinal: true } },
  { title: "root's makeLockDir(): the new folder swapped for a symlink to root's 0600 file right after mkdir", vias: ["direct"], victim: "root", aim: "file", race: { at: "mkdir", swap: true, atFinal: false } },
  { title: "a symlink to the victim's file at the final name before the open", vias: ["explicit", "dropin"], victim: "nobody", aim: "file" },
  { title: "a symlink to the victim's directory at the final name before the open", vias: ["explicit", "dropin"], victim: "nobody", aim: "directory" },
];

interface Planned {
  c: Case;
  /** The victim's file or directory the symlink points to, and its mode before. */
  target: string;
  modeBefore: number;
  /** Its mtime before (ns): a record made and removed in a directory changes it. */
  mtimeBefore: bigint;
  inoOfTarget: number;
}

describe("a symlink in place of a lock folder in the fallback folder (issue 9)", function () {
  let tmp: ReturnType<typeof tempDir> | undefined;
  const planned = new Map<string, Planned>(); // by `${attack index} ${via}`
  let outcomes = new Map<string, Outcome>();
  let stderr = "";

  before(async function () {
    if (process.getuid?.() !== 0) {
      console.log(`      (skipped: needs root, to play the victim (nobody) and the attacker (uid ${ATTACKER}) with seteuid)`);
      this.skip();
    }
    tmp = tempDir("h5ts-race-");
    const base = tmp.dir;
    chmodSync(base, 0o755);
    // The fallback folder, as the attacker made it: theirs, 1777 as it must be.
    mkdirSync(join(base, "run"), 0o755);
    const fallback = join(base, "run", "h5-threadsafe");
    mkdirSync(fallback);
    chmodSync(fallback, 0o1777);
    chownSync(fallback, ATTACKER, ATTACKER);
    // The data: readable by all, its folder writable by root only (nobody's records go to the fallback).
    const data = join(base, "data");
    mkdirSync(data, 0o755);
    // The victims' private things: nobody's home, root's home.
    const homes = { nobody: join(base, "nobody"), root: join(base, "root") };
    for (const [who, home] of Object.entries(homes)) {
      mkdirSync(home, 0o700);
      if (who === "nobody") chownSync(home, NOBODY, NOBODY);
    }
    for (const [i, a] of attacks.entries()) {
      for (const via of a.vias) {
        const id = `${i}-${via}`;
        const file = join(data, `${id}.h5`);
        await makeH5(file);
        const final = join(fallback, basename(inspect(file).dirs[1]!)); // the same name under any fallback folder
        const home = homes[a.victim];
        const target = join(home, a.aim === "file" ? `${id}.secret` : `${id}.private`);
        if (a.aim === "file") writeFileSync(target, "secret\n", { mode: 0o600 });
        else mkdirSync(target, 0o700);
        if (a.victim === "nobody") chownSync(target, NOBODY, NOBODY);
        if (!a.race) {
          symlinkSync(target, final);
          lchownSync(final, ATTACKER, ATTACKER);
        }
        const st = statSync(target, { bigint: true });
        const race = a.race && { at: a.race.at, swapTo: a.race.swap ? target : undefined, finalTo: a.race.atFinal ? target : undefined };
        const victim = a.victim === "nobody" ? { uid: NOBODY, gid: NOBODY } : undefined;
        const c: Case = { file, via, final, attacker: ATTACKER, victim, race, watch: a.aim === "directory" ? target : undefined };
        planned.set(`${i} ${via}`, { c, target, modeBefore: Number(st.mode) & 0o7777, mtimeBefore: st.mtimeNs, inoOfTarget: Number(st.ino) });
      }
    }
    const cases = [...planned.values()].map((p) => p.c);
    const r = spawnSync(process.execPath, [RACE, JSON.stringify(cases)], {
      encoding: "utf8",
      timeout: 30_000,
      env: { ...process.env, H5TS_FALLBACK_DIR: fallback },
    });
    stderr = r.stderr;
    expect(r.status, r.stderr).to.equal(0);
    const results = JSON.parse(r.stdout) as Outcome[];
    outcomes = new Map([...planned.keys()].map((k, n) => [k, results[n]!]));
  });

  after(() => tmp?.cleanup());

  for (const [i, a] of attacks.entries()) {
    it(`${a.title}: ${a.aim === "file" ? "the file keeps its mode" : "the directory keeps its mode and gets no record"}; ${a.vias.map(expected).join(", ")}`, function () {
      for (const via of a.vias) {
        const { c, target, modeBefore, mtimeBefore, inoOfTarget } = planned.get(`${i} ${via}`)!;
        const out = outcomes.get(`${i} ${via}`)!;
        const what = `${via}: ${JSON.stringify(out)}\n${stderr}`;
        if (a.race) expect(out.fired, `${via}: the attack got its moment`).to.have.length(Number(a.race.swap) + Number(a.race.atFinal));
        // The victim's things: unchanged.
        const st = statSync(target, { bigint: true });
        expect((Number(st.mode) & 0o7777).toString(8), `${via}: mode of ${target}`).to.equal(modeBefore.toString(8));
        expect(st.mtimeNs, `${via}: ${target} written (mtime)`).to.equal(mtimeBefore);
        if (a.aim === "file") expect(readFileSync(target, "utf8"), `${via}: ${target}`).to.equal("secret\n");
        else {
          expect(out.whileOpen ?? [], `${via}: records in ${target} while the file was open`).to.deep.equal([]);
          expect(readdirSync(target), `${via}: entries left in ${target}`).to.deep.equal([]);
        }
        // Nothing chmod'ed through a symlink, nor the victim's inode at all.
        for (const m of out.chmods) {
          expect(m.ino, `${via}: ${m.call}(${m.target}) reached the victim's inode`).to.not.equal(inoOfTarget);
          expect(m.symlink, `${via}: ${m.call}(${m.target}) went through a symlink`).to.not.equal(true);
        }
        // What the application saw.
        if (via === "dropin") {
          expect(out.error, what).to.equal(undefined);
          expect(BigInt(out.fileId!) >= 0n, `${via}: opened, as bare h5wasm opens it`).to.equal(true);
          expect(out.warnings.map((w) => w.code), what).to.deep.equal(["H5TS_UNLOCKED"]);
          expect(out.warnings[0]!.message, what).to.include(c.final);
        } else {
          expect(out.error?.name, what).to.equal("H5TSError");
          expect(out.error?.code, what).to.equal("ENOLOCKDIR");
          expect(out.error?.message, what).to.include(`cannot use lock folder ${c.final}`);
        }
        // Whatever now sits at the final name is the attacker's symlink or nothing: never a folder made through it.
        const there = lstatOrUndefined(c.final);
        if (there) expect(there.isSymbolicLink(), `${via}: ${c.final}`).to.equal(true);
      }
    });
  }
});

function expected(via: Via): string {
  return via === "dropin" ? "a drop-in open warns H5TS_UNLOCKED and opens" : via === "explicit" ? "openFile() fails with ENOLOCKDIR" : "makeLockDir() fails with ENOLOCKDIR";
}

function lstatOrUndefined(path: string) {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}
