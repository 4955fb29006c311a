// The pool's tasks (examples/pool.ts). This file imports h5wasm and nothing of
// h5-threadsafe: the patched main thread covers piscina's workers.

import h5wasm from "h5wasm/node";

type Data = InstanceType<typeof h5wasm.Dataset>;

/** Appends 1..appends to /data, one open, resize, write and close each. */
export async function append({ filename, appends }: { filename: string; appends: number }): Promise<void> {
  await h5wasm.ready;
  for (let i = 1; i <= appends; i++) {
    const f = new h5wasm.File(filename, "a");
    try {
      const data = f.get("data") as Data;
      const n = data.shape![0];
      data.resize([n + 1]);
      data.write_slice([[n, n + 1]], new Float64Array([i]));
    } finally {
      f.close();
    }
    await new Promise((r) => setTimeout(r, 2)); // let readers in between appends
  }
}

/** Reads /data and sums it. */
export async function read({ filename }: { filename: string }): Promise<{ length: number; sum: number }> {
  await h5wasm.ready;
  const f = new h5wasm.File(filename, "r");
  try {
    const values = (f.get("data") as Data).value as Float64Array;
    return { length: values.length, sum: values.reduce((a, b) => a + b, 0) };
  } finally {
    f.close();
  }
}
