// A piscina pool from a patched main thread: the tasks' file imports h5wasm alone (see
// pool_task.ts), and is covered all the same. Reader tasks read /data again and again
// while an appender task grows it; each read sees a whole prefix of the appends (never a
// torn or half-written dataset), and the final file holds every append.
//
//   npm run example:pool -- [file] [readers] [appends]

import "../src/register.js"; // in an application: import "h5-threadsafe/patch";
import h5wasm from "h5wasm/node";
import { Piscina } from "piscina";
import { fileOrTemporary, positiveInt } from "./shared.js";

const [given, readersArg, appendsArg] = process.argv.slice(2);
const filename = fileOrTemporary(given, "pool.h5");
const readers = positiveInt(readersArg, 2, "readers");
const appends = positiveInt(appendsArg, 40, "appends");

await h5wasm.ready;
{
  // /data: 1, 2, 3, ... as appended; chunked so that it can grow.
  using f = new h5wasm.File(filename, "w");
  f.create_dataset({ name: "data", data: new Float64Array(0), shape: [0], maxshape: [null], chunks: [64] });
}

const pool = new Piscina({ filename: new URL("./pool_task.js", import.meta.url).href, minThreads: readers + 1, maxThreads: readers + 1 });
let appended = false;
const appending = pool.run({ filename, appends }, { name: "append" }).finally(() => (appended = true));
// `readers` reads at a time, again and again while the appender runs.
const reads: { length: number; sum: number }[] = [];
await Promise.all(
  Array.from({ length: readers }, async () => {
    while (!appended) reads.push(await pool.run({ filename }, { name: "read" }));
  }),
);
await appending;
await pool.destroy();

const final = ((): number[] => {
  using f = new h5wasm.File(filename, "r");
  return Array.from((f.get("data") as InstanceType<typeof h5wasm.Dataset>).value as Float64Array);
})();
const torn = reads.filter((r) => r.sum !== (r.length * (r.length + 1)) / 2);
const seen = [...new Set(reads.map((r) => r.length))].sort((a, b) => a - b);
console.log(`${reads.length} reads while appending saw ${seen.length} different lengths (${seen[0]} to ${seen[seen.length - 1]}); ${torn.length ? `${torn.length} TORN` : "each a whole prefix 1, 2, 3, ..."}`);
const whole = final.length === appends && final.every((v, i) => v === i + 1);
console.log(`final: ${final.length} of ${appends} appends, ${whole ? "1, 2, 3, ... in order" : "NOT what was appended"}`);
if (!whole || torn.length) process.exitCode = 1;
