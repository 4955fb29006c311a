// h5wasm's own test suite, run from its folder with the patch preloaded through
// NODE_OPTIONS, passes in full and prints exactly what it prints without the patch.

import { expect } from "chai";
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { readdirSync, existsSync } from "node:fs";

const INSTALL = fileURLToPath(new URL("../src/register.js", import.meta.url));
// h5wasm's "exports" hide package.json; its folder is three levels above the node entry.
const H5WASM = dirname(dirname(dirname(fileURLToPath(import.meta.resolve("h5wasm/node")))));

function suite(preload: boolean) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const env = { ...process.env, NODE_OPTIONS: preload ? `--import ${INSTALL}` : "" };
    const c = spawn(process.execPath, ["test/test.mjs"], { cwd: H5WASM, env });
    let stdout = "";
    let stderr = "";
    c.stdout.on("data", (d) => (stdout += d));
    c.stderr.on("data", (d) => (stderr += d));
    c.on("error", reject);
    c.on("exit", (code) => resolve({ code, stdout, stderr: stderr.replace(/time = [^,]+,/g, "") }));
  });
}

describe("h5wasm's own test suite", function () {
  it("passes in full with the patch preloaded, with the same output as without", async function () {
    const bare = await suite(false);
    const patched = await suite(true);
    expect(patched.code, patched.stdout + patched.stderr).to.equal(0);
    const passed = patched.stdout.split("\n").filter((l) => l.startsWith("✓"));
    const failed = patched.stdout.split("\n").filter((l) => l.startsWith("x "));
    expect(failed).to.deep.equal([]);
    expect(passed.length).to.be.at.least(40);
    expect(patched.stdout).to.equal(bare.stdout);
    expect(patched.stderr).to.equal(bare.stderr);
    const tmp = join(H5WASM, "test", "tmp");
    if (existsSync(tmp)) expect(readdirSync(tmp).filter((n) => n.endsWith(".h5ts"))).to.deep.equal([]);
    console.log(`      (${passed.length} h5wasm tests passed under the patch)`);
  });
});
