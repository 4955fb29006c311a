// The registry of open handles, per thread: handlers, filenames, lookup by any name that
// leads to the file, closeAll.

import { expect } from "chai";
import { Worker } from "node:worker_threads";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { makeH5 } from "./support/files.js";
import { scenario } from "./support/scenario.js";

const PROBE = fileURLToPath(new URL("./fixtures/registry-probe.js", import.meta.url));

describe("the registry", function () {
  const s = scenario("a.h5");

  it("lists, finds and closes every handle of its thread", async function () {
    {
      const [a, b] = [s.file, join(s.dir, "b.h5")];
      await makeH5(b);
      const out = await new Promise<any>((resolve, reject) => {
        const w = new Worker(PROBE, { workerData: [a, b] });
        w.on("message", (m) => resolve(JSON.parse(m)));
        w.on("error", reject);
      });
      expect(out).to.deep.equal({
        sizeBefore: 0,
        size: 4,
        filenames: ["<dir>/a.h5", "<relative>", "<dir>/b.h5", "<dir>/link.h5"],
        hasByLink: true,
        hasMissing: false,
        byNameCount: 3,
        byNameHasDefaultObject: true,
        byNameRawIsFile: true,
        handlersHasExplicit: true,
        handlersIsCopy: true,
        locksBefore: 2,
        sizeAfter: 0,
        locksAfter: 0,
      });
    }
  });
});
