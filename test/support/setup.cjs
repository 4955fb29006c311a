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

// What a test writes to stderr (HDF5's diagnostic dumps above all, which many tests cause
// on purpose, and their children's, forwarded here) is kept, and printed only when the
// test fails: a passing `npm test` prints its results alone. H5TS_TEST_STDERR=1 shows it all.
let kept = [];
const write = process.stderr.write.bind(process.stderr);
exports.mochaHooks = {
  beforeEach() {
    if (process.env.H5TS_TEST_STDERR === "1") return;
    kept = [];
    process.stderr.write = (chunk, encoding, callback) => {
      kept.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString());
      const done = typeof encoding === "function" ? encoding : callback;
      if (typeof done === "function") process.nextTick(done);
      return true;
    };
  },
  afterEach() {
    if (process.env.H5TS_TEST_STDERR === "1") return;
    process.stderr.write = write;
    if (this.currentTest && this.currentTest.state === "failed" && kept.length) {
      write(`--- stderr of "${this.currentTest.fullTitle()}" ---\n${kept.join("")}--- end of stderr ---\n`);
    }
    kept = [];
  },
};
