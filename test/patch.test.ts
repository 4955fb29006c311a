// The patch itself: idempotent (also with two copies of the package), reversible, and
// invisible in names, keys, instanceof; every File supports `using`.

import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { makeH5, tempDir } from "./support/files.js";

const PROBE = fileURLToPath(new URL("./fixtures/patch-probe.js", import.meta.url));

describe("the patch", function () {
  let tmp: ReturnType<typeof tempDir>;
  let file: string;
  beforeEach(async () => {
    tmp = tempDir();
    file = join(tmp.dir, "p.h5");
    await makeH5(file);
  });
  afterEach(() => tmp.cleanup());

  const probe = (scenario: string) => {
    const r = spawnSync(process.execPath, [PROBE, scenario, file], { encoding: "utf8" });
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr).to.equal("");
    return JSON.parse(r.stdout);
  };

  it("patches once, however often and by however many copies it is imported", function () {
    expect(probe("twice")).to.deep.equal({
      otherSeesPatched: true,
      openDepth: 1,
      closeDepth: 1,
      startDepth: 1,
      fileParentIsOriginal: true,
      keysSame: true,
      moduleKeysSame: true,
      openEnumerable: true,
      holdersWhileOpen: 1,
      holdersAfter: 0,
    });
  });

  it("unpatch() restores every original, and patch() works again after it", function () {
    expect(probe("unpatch")).to.deep.equal({
      patchedOpenDiffers: true,
      restored: true,
      disposeGone: true,
      isPatched: false,
      holdersWhileOpenUnpatched: 0,
      repatched: true,
    });
  });

  it("unpatch() with a file open: that file keeps its lock until its close gives it back; nothing printed", function () {
    expect(probe("unpatch-while-open")).to.deep.equal({
      openRestored: true,
      holdersWhileOpen: 1,
      holdersAfterClose: 0,
      restoredAfterClose: true,
      holdersUnpatchedOpen: 0,
    });
  });

  it("keeps File's name, instanceof both ways, the object's keys; `using` closes", function () {
    const r = probe("classes");
    expect(r).to.deep.include({ name: "File", defaultIsNamed: true, namedIsDefault: true, isGroup: true });
    expect(r.ownKeys).to.deep.equal(r.bareKeys);
    expect(r.heldInside).to.deep.equal(["exclusive"]);
    expect(r.heldAfterUsing).to.equal(0);
    expect(r.heldAfterDoubleClose).to.equal(0);
  });
});
