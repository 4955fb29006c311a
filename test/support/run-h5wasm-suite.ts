// `npm run test:h5wasm`: h5wasm's own test suite, run from its folder with the patch
// preloaded through NODE_OPTIONS, as the acceptance test of "drop-in".
import { spawnSync } from "node:child_process";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

const install = fileURLToPath(new URL("../../src/register.js", import.meta.url));
const h5wasmDir = dirname(dirname(dirname(fileURLToPath(import.meta.resolve("h5wasm/node")))));
const r = spawnSync(process.execPath, ["test/test.mjs"], {
  cwd: h5wasmDir,
  stdio: "inherit",
  env: { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --import ${install}`.trim() },
});
process.exit(r.status ?? 1);
