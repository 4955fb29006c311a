// The package as users get it: `npm pack`, installed into a new app beside h5wasm (from
// npm's cache, which `npm ci` filled), used there from JavaScript with worker threads, and
// from strict TypeScript against the shipped declarations.

import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { tempDir } from "./support/files.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const npm = (args: string[], cwd: string) => spawnSync("npm", args, { cwd, encoding: "utf8", env: { ...process.env, npm_config_audit: "false", npm_config_fund: "false", npm_config_update_notifier: "false" } });

describe("the packed package", function () {
  this.timeout(240_000);
  let tmp: ReturnType<typeof tempDir>;
  let app: string;
  let tarball: string;
  before(function () {
    tmp = tempDir();
    const packed = npm(["pack", "--json", "--pack-destination", tmp.dir], ROOT);
    expect(packed.status, packed.stderr).to.equal(0);
    const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
    tarball = join(tmp.dir, info.filename);
    const files = info.files.map((f) => f.path);
    expect(files).to.include.members(["LICENSE", "CHANGELOG.md", "README.md", "BENCHMARKS.md", "bench/chart.svg", "dist/src/register.js", "dist/src/index.d.ts", "docs/architecture.md"]);
    expect(files.filter((f) => f.startsWith("dist/test") || f.startsWith("src/")), "no tests, no TypeScript sources").to.deep.equal([]);
    app = join(tmp.dir, "app");
    mkdirSync(app);
    const h5wasmVersion = JSON.parse(readFileSync(join(ROOT, "node_modules/h5wasm/package.json"), "utf8")).version;
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module", dependencies: { h5wasm: h5wasmVersion, "h5-threadsafe": `file:${tarball}` } }));
    const installed = npm(["install", "--prefer-offline", "--no-package-lock"], app);
    if (installed.status !== 0) {
      // Without the registry or a filled cache nothing can be installed: say so.
      if (/ENOTCACHED|ENOTFOUND|EAI_AGAIN|ECONNREFUSED/.test(installed.stderr)) this.skip();
      expect.fail(installed.stderr);
    }
  });
  after(() => tmp?.cleanup());

  it("source maps carry their sources (the TypeScript is not shipped)", function () {
    const dir = join(app, "node_modules/h5-threadsafe/dist/src");
    const maps = readdirSync(dir).filter((f) => f.endsWith(".js.map"));
    expect(maps.length).to.be.greaterThan(5);
    for (const m of maps) expect(JSON.parse(readFileSync(join(dir, m), "utf8")).sourcesContent?.[0], m).to.be.a("string");
  });

  it("the patch, loaded with --import, keeps every append of 3 worker threads", function () {
    writeFileSync(
      join(app, "app.mjs"),
      `import { Worker, isMainThread, workerData } from "node:worker_threads";
import h5wasm from "h5wasm/node";
await h5wasm.ready;
if (isMainThread) {
  const file = "shared.h5";
  new h5wasm.File(file, "w").close();
  await Promise.all([0, 1, 2].map((w) => new Promise((ok, fail) => new Worker(new URL(import.meta.url), { workerData: w }).on("exit", ok).on("error", fail))));
  const f = new h5wasm.File(file, "r");
  console.log(f.keys().length);
  f.close();
} else {
  for (let i = 0; i < 20; i++) {
    const f = new h5wasm.File("shared.h5", "a");
    f.create_dataset({ name: "w" + workerData + "_" + i, data: new Float64Array([i]) });
    f.close();
  }
}
`,
    );
    const r = spawnSync(process.execPath, ["--import", "h5-threadsafe/patch", "app.mjs"], { cwd: app, encoding: "utf8" });
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout.trim()).to.equal("60");
  });

  it("strict TypeScript compiles against the shipped declarations (API, patch, `await using`)", function () {
    writeFileSync(
      join(app, "main.ts"),
      `import "h5-threadsafe/patch";
import h5wasm from "h5wasm/node";
import { openFileAsync, withFile, registry, type H5TSErrorCode, LockTimeoutError } from "h5-threadsafe";
export async function main(path: string): Promise<number> {
  await using f = await openFileAsync(path, "r", { signal: AbortSignal.timeout(1000) });
  const code: H5TSErrorCode = "ELOCKTIMEOUT";
  const names = [...registry().handlers].map((h) => h.filename);
  using g = new h5wasm.File(path, "r");
  try {
    withFile(path, "r", (x) => x.keys());
  } catch (e) {
    if (e instanceof LockTimeoutError) return e.waitedMs + e.lock.length + (e.mode ?? "").length;
  }
  return f.keys().length + names.length + code.length + g.keys().length;
}
`,
    );
    writeFileSync(
      join(app, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: { strict: true, noEmit: true, target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", lib: ["ES2023", "ESNext.Disposable"], typeRoots: [join(ROOT, "node_modules/@types")], types: ["node"] },
        files: ["main.ts"],
      }),
    );
    const r = spawnSync(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", app], { cwd: app, encoding: "utf8" });
    expect(r.status, r.stdout + r.stderr).to.equal(0);
  });
});
