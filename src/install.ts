// `import "h5-threadsafe/patch"` or `node --import h5-threadsafe/patch app.mjs`:
// installs the patch in this thread before the importing code runs. Workers started with
// the same execArgv load it too.
import { patch } from "./patch.js";

await patch();
