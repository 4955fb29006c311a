#!/usr/bin/env node
// h5-threadsafe: who holds an HDF5 file, and clearing holders that are gone — what lsof
// and h5clear are to HDF5 users, for this package's locks.

import { existsSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { describeHolder, type HolderInfo } from "./errors.js";
import { clearGone, inspect, type LockState } from "./lock/inspect.js";
import { nativeLocking } from "./native/flock.js";
import { parseTarget, runUnderLock, type RunTarget } from "./run-command.js";

const HELP = `Usage: h5-threadsafe <command> [options] <file...>

Commands:
  status <file...>   list the holders and waiters of each file's lock
                     (mode, pid, thread, host, since, alive or gone), and native
                     programs holding the file's flock (h5py, h5dump, ...)
  clear <file...>    remove the records of holders and waiters that are gone (and
                     folders left half made by a killed process); refuses while
                     live ones hold the file, unless --force
  run <file[:mode]...> -- <command> [args...]
                     wait for each file's lock in its mode (default a), from Node
                     holders and native programs, then run the command while Node
                     opens wait for it; exits with the command's status

Options:
  --json             status: print JSON (one object per file, in an array)
  --force            clear: remove live holders' records too (they keep the file
                     open: only for holders you know are stuck or elsewhere)
  --lock-dir <dir>   where the lock files are, if not beside the data files
                     (default: $H5TS_LOCK_DIR)
  -h, --help         this text
  -v, --version      the package version

Exit codes:
  0  status: no live holder or waiter (records of gone ones may be listed);
     clear: nothing alive holds any file now
  1  an error (a message says which), e.g. a file that does not exist
  2  bad usage
  3  status: some file is held or waited for by a live holder (Node or native)
  4  clear: some file still has live holders (not forced)
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
  return pkg.version;
}

function line(kind: string, h: HolderInfo): string {
  return `  ${kind.padEnd(6)} ${describeHolder(h)}`;
}

function printState(s: LockState): void {
  const n = s.holders.length + s.waiters.length + s.native.length;
  const native = s.native.length ? `, ${s.native.length} native holder(s)` : "";
  console.log(n === 0 ? `${s.path}: free` : `${s.path}: ${s.holders.length} holder(s), ${s.waiters.length} waiter(s)${native}`);
  for (const h of s.holders) console.log(line("holder", h));
  for (const w of s.waiters) console.log(line("waiter", w));
  for (const h of s.native) console.log(line("native", h));
  const layer = nativeLocking();
  if (!layer.enabled) console.log(`  (native flock layer off: ${layer.reason})`);
}

function main(argvAll: string[]): number | Promise<number> {
  const dashes = argvAll.indexOf("--");
  const argv = dashes < 0 ? argvAll : argvAll.slice(0, dashes);
  const command = dashes < 0 ? [] : argvAll.slice(dashes + 1);
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        json: { type: "boolean" },
        force: { type: "boolean" },
        "lock-dir": { type: "string" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "v" },
      },
    });
  } catch (e) {
    console.error(`h5-threadsafe: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (values.version) {
    console.log(version());
    return 0;
  }
  const [verb, ...files] = positionals;
  const known = verb === "status" || verb === "clear" || verb === "run";
  if (!known || files.length === 0) {
    console.error(verb && !known ? `h5-threadsafe: unknown command ${JSON.stringify(verb)}\n` : `h5-threadsafe: ${verb ? "no file given" : "no command given"}\n`);
    process.stderr.write(HELP);
    return 2;
  }
  const options = values["lock-dir"] ? { lockDir: values["lock-dir"] } : {};
  if (verb === "run") {
    const targets = files.map(parseTarget);
    if (command.length === 0 || targets.some((t) => !t)) {
      const bad = files.filter((_, i) => !targets[i]);
      console.error(bad.length ? `h5-threadsafe: unknown mode in ${bad.join(", ")} (modes: r, a, w, x, Sr, Sa)\n` : `h5-threadsafe: run needs file[:mode] arguments, then -- and a command\n`);
      process.stderr.write(HELP);
      return 2;
    }
    return runUnderLock(targets as RunTarget[], command, options, (s) => console.error(`h5-threadsafe: ${s}`));
  }
  if (verb === "status") {
    const missing = files.filter((f) => !existsSync(f));
    if (missing.length) {
      console.error(`h5-threadsafe: no such file: ${missing.join(", ")}`);
      return 1;
    }
    const states = files.map((f) => inspect(f, options));
    if (values.json) console.log(JSON.stringify(states, null, 2));
    else states.forEach(printState);
    const live = (hs: HolderInfo[]) => hs.some((h) => h.alive);
    return states.some((s) => live(s.holders) || live(s.waiters) || s.native.length > 0) ? 3 : 0;
  }
  let stuck = false;
  for (const f of files) {
    const before = inspect(f, options);
    const live = [...before.holders, ...before.waiters].filter((h) => h.alive);
    if (live.length && !values.force) {
      const removed = clearGone(f, options);
      console.log(`${before.path}: removed ${removed} gone; refused: ${live.length} live holder(s)/waiter(s) (use --force)`);
      for (const h of live) console.log(line("live", h));
      stuck = true;
      continue;
    }
    const removed = clearGone(f, options, values.force);
    console.log(`${before.path}: removed ${removed}`);
  }
  return stuck ? 4 : 0;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  console.error(`h5-threadsafe: ${(e as Error).message}`);
  process.exitCode = 1;
}
