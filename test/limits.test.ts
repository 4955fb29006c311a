// No new limits: what bare h5wasm opens, the patch opens too.

import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { scenario } from "./support/scenario.js";

const MANY = fileURLToPath(new URL("./fixtures/many-files.js", import.meta.url));

describe("no new limits", function () {
  const s = scenario("unused.h5");

  it("a loop opening and closing 600 files in one turn works under ulimit -n 128, as bare h5wasm does", function () {
    this.timeout(120_000);
    const run = (patched: string) => {
      const r = spawnSync("sh", ["-c", `ulimit -n 128 && exec "${process.execPath}" "${MANY}" "${s.dir}" 600 ${patched}`], { encoding: "utf8" });
      return JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}");
    };
    expect(run("bare")).to.deep.equal({ ok: 600 });
    expect(run("patched")).to.deep.equal({ ok: 600 });
  });
});
