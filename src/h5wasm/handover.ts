// HDF5 is given the descriptor that holds the data file's flock (native/gate.ts) instead
// of opening one of its own: one descriptor per open file, as with bare h5wasm, and
// nothing to give back at close (HDF5 closing it lets the flock go).
//
// Emscripten's NODERAWFS (h5wasm's file system in Node) opens a file in `FS.open` with
// node:fs's `openSync` (looked up on the module object at each call; every copy of
// h5wasm in a thread shares that object), and closes it in `FS.close`. For the span of
// HDF5's open call only, `FS.open` and `FS.close` of h5wasm's FS object are wrapped: the
// first open of the file's name gets our descriptor, through a stand-in for `openSync`
// that lives for that one call; when HDF5 closes it before its open returns (a writer's
// open opens the file twice: tentatively, then with its final flags), the close is kept
// from reaching the descriptor, which goes to the next open. Whatever HDF5 has open when
// its call returns is HDF5's from then on: the lock is told so, and touches the number
// again only while HDF5's stream is still open (NativeFileLock.handOver).
//
// Where any of this does not fit (another h5wasm build, flags a reader's descriptor cannot
// serve, an exclusive create), HDF5 opens its own descriptor, as before.

import fs from "node:fs";
import { resolve } from "node:path";
import type { NativeFileLock } from "../native/flock.js";

interface Stream {
  fd: number;
}

interface EmscriptenFS {
  open(this: unknown, ...args: unknown[]): Stream;
  close(this: unknown, ...args: unknown[]): unknown;
  streams: (Stream | null | undefined)[];
}

type Fs = Record<"openSync" | "closeSync", (...args: any[]) => any>;
const nodeFs = fs as unknown as Fs;
const { O_RDONLY, O_WRONLY, O_RDWR, O_EXCL, O_TRUNC } = fs.constants;
const O_ACCMODE = O_RDONLY | O_WRONLY | O_RDWR;

function isEmscriptenFS(FS: unknown): FS is EmscriptenFS {
  const f = FS as Partial<EmscriptenFS> | undefined;
  return typeof f?.open === "function" && typeof f.close === "function" && Array.isArray(f.streams);
}

/** Runs `run` with node:fs's `name` replaced by `standIn(real)`, put back after. */
function replacing<T>(name: keyof Fs, standIn: (real: Fs[typeof name]) => Fs[typeof name], run: () => T): T {
  const real = nodeFs[name];
  nodeFs[name] = standIn(real);
  try {
    return run();
  } finally {
    nodeFs[name] = real;
  }
}

/** Whether an open with these (node) flags can be given `lock`'s descriptor. */
function serves(lock: NativeFileLock, flags: unknown): flags is number {
  if (typeof flags !== "number" || (flags & O_EXCL) !== 0) return false; // an exclusive create must fail as it would
  return (flags & O_ACCMODE) === O_RDONLY || lock.writable;
}

/**
 * Runs HDF5's open (`open`, which opens `filename`) giving it `lock`'s descriptor where
 * it opens that file; `FS` is h5wasm's Emscripten file system. Returns what `open` returns.
 */
export function openHandingOver<T>(FS: unknown, filename: string, lock: NativeFileLock | undefined, open: () => T): T {
  if (!lock || lock.handedOver || lock.fd < 0 || !isEmscriptenFS(FS)) return open();
  const fd = lock.fd;
  const target = resolve(filename);
  const { open: fsOpen, close: fsClose } = FS;
  let given: Stream | undefined; // HDF5's stream on our descriptor, while it has one

  FS.open = function (this: unknown, path: unknown) {
    const args = arguments as unknown as unknown[];
    // Emscripten opens the name as given, joined to the working folder if relative.
    if (given || typeof path !== "string" || (path !== target && resolve(path) !== target)) return fsOpen.apply(this, args);
    let lent = false;
    const stream = replacing(
      "openSync",
      (real) =>
        function (this: unknown, _path: unknown, flags: unknown) {
          if (lent || !serves(lock, flags)) return real.apply(this, arguments as unknown as unknown[]);
          if (flags & O_TRUNC) fs.ftruncateSync(fd, 0); // what this open would have done
          lent = true;
          return fd;
        },
      () => fsOpen.apply(this, args),
    );
    if (lent) given = stream;
    return stream;
  };
  FS.close = function (this: unknown, stream: unknown) {
    const args = arguments as unknown as unknown[];
    if (stream !== given) return fsClose.apply(this, args);
    let kept = false;
    const result = replacing(
      "closeSync",
      (real) =>
        function (this: unknown, n: unknown) {
          if (n !== fd) return real.apply(this, arguments as unknown as unknown[]);
          kept = true; // ours again, for HDF5's next open of the file
        },
      () => fsClose.apply(this, args),
    );
    if (kept) given = undefined;
    return result;
  };
  try {
    return open();
  } finally {
    FS.open = fsOpen;
    FS.close = fsClose;
    const stream = given;
    if (stream) lock.handOver(() => FS.streams[stream.fd] === stream);
  }
}
