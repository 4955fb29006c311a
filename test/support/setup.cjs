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

// What the tests write to stderr (HDF5's diagnostic dumps above all, which many tests
// cause on purpose, and their children's, forwarded here) is kept, and printed only with
// a failing test: a passing `npm test` prints its results alone. What comes between tests
// (hooks, late output of a child) goes with the next test. H5TS_TEST_STDERR=1 shows it all.
// (h5wasm writes HDF5's dumps with fs.writeSync(2, ...), not through process.stderr.)
const fs = require("node:fs");
let kept = [];
const write = process.stderr.write.bind(process.stderr);
if (process.env.H5TS_TEST_STDERR !== "1") {
  process.stderr.write = (chunk, encoding, callback) => {
    kept.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString());
    const done = typeof encoding === "function" ? encoding : callback;
    if (typeof done === "function") process.nextTick(done);
    return true;
  };
  const writeSync = fs.writeSync;
  fs.writeSync = function (fd, data, ...rest) {
    if (fd !== 2) return writeSync.call(this, fd, data, ...rest);
    if (typeof data === "string") {
      kept.push(data);
      return Buffer.byteLength(data, typeof rest[1] === "string" ? rest[1] : "utf8");
    }
    const offset = typeof rest[0] === "number" ? rest[0] : 0;
    const length = typeof rest[1] === "number" ? rest[1] : data.byteLength - offset;
    kept.push(Buffer.from(data.buffer, data.byteOffset + offset, length).toString());
    return length;
  };
}
// A run that fails outside any test (a file that cannot load, say) must not lose its words.
process.on("exit", (code) => {
  if (code !== 0 && kept.length) write(`--- stderr since the last test ---\n${kept.join("")}--- end of stderr ---\n`);
});
exports.mochaHooks = {
  afterEach() {
    if (this.currentTest && this.currentTest.state === "failed" && kept.length) {
      write(`--- stderr of "${this.currentTest.fullTitle()}" (and what came before it since the last test) ---\n${kept.join("")}--- end of stderr ---\n`);
    }
    kept = [];
  },
};
