// Loaded by mocha before any test (.mocharc.json "require"): the host-wide fallback lock
// folder of every process the tests start is a private one (mode 1777, as the real one),
// so that nothing is left in the host's own and no test meets another run's records.
const { chmodSync, mkdtempSync, rmSync } = require("node:fs");
const { tmpdir } = require("node:os");
const { join } = require("node:path");

if (!process.env.H5TS_FALLBACK_DIR) {
  const root = mkdtempSync(join(tmpdir(), "h5ts-fallback-"));
  chmodSync(root, 0o1777);
  process.env.H5TS_FALLBACK_DIR = join(root, "h5-threadsafe");
  process.on("exit", () => rmSync(root, { recursive: true, force: true }));
}
