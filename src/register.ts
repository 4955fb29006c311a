// `import "h5-threadsafe/patch"` or `node --import h5-threadsafe/patch app.mjs`:
// installs the patch in this thread before the importing code runs. Workers started with
// the same execArgv load it too.
import { settings } from "./config.js";
import { patch } from "./patch.js";

await patch();
settings(); // the environment's settings are read (and a bad one said) now, not at the first open

// With the patch, every File supports `using` (declared here, so that code which does not
// load the patch is not told so).
declare module "h5wasm/node" {
  interface File {
    [Symbol.dispose](): void;
  }
}
