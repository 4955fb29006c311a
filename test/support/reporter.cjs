// Mocha's spec reporter, closing with the plain "N passed, N failed" line that CI reads.
const { reporters } = require("mocha");

class SpecWithTotals extends reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once("end", () => {
      const s = this.stats;
      process.stdout.write(`${s.passes} passed, ${s.failures} failed${s.pending ? `, ${s.pending} skipped` : ""}\n`);
    });
  }
}

module.exports = SpecWithTotals;
