// The C library's calls that Node has no API for (flock, inotify, ppoll), through the
// optional dependency koffi (an FFI with prebuilt binaries: nothing is compiled at
// install). Loaded once per thread, on first need, synchronously: locks are taken inside
// a synchronous `new File()`. Where koffi cannot load (another platform, `--omit=optional`)
// there is no libc here, and each user falls back (and says why).

import { closeSync, constants, openSync } from "node:fs";
import { createRequire } from "node:module";
import { isMainThread } from "node:worker_threads";
import { BINDING, sharedCells, waitAsync } from "./shared-memory.js";

export interface Libc {
  flock(fd: number, op: number): number;
  inotify_init1(flags: number): number;
  inotify_add_watch(fd: number, path: string, mask: number): number;
  inotify_rm_watch(fd: number, wd: number): number;
  dup3(oldfd: number, newfd: number, flags: number): number;
  /** `fds`: struct pollfd[]; `timeout`: struct timespec, or null for none. */
  ppoll(fds: Buffer, nfds: number, timeout: Buffer | null, sigmask: null): number;
  read(fd: number, buf: Buffer, count: number): number;
  close(fd: number): number;
  /** errno of the last call made through this binding, in this thread. */
  errno(): number;
}

/** Per thread (module state is per worker): undefined = not tried yet. */
let libc: Libc | null | undefined;
let failure: string | undefined;

/** The binding, or null (then `libcFailure()` says why). */
export function loadLibc(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  if (process.platform === "win32") {
    failure = "platform win32 has no flock (HDF5 uses LockFileEx there; not implemented)";
    return libc;
  }
  try {
    libc = whileNotTerminated(bind);
  } catch (err) {
    failure = `koffi could not be loaded (${(err as Error)?.message?.split("\n")[0] ?? String(err)})`;
    libc = null;
  }
  return libc;
}

function bind(): Libc {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const mod: any = createRequire(import.meta.url)("koffi");
  const koffi = mod?.default ?? mod;
  // dlopen(NULL): the symbols of the running node and its libc (glibc, musl, libSystem).
  const lib = koffi.load(null);
  const flock = lib.func("int flock(int fd, int operation)");
  // Linux only; elsewhere these stay unbound and the callers fall back.
  const optional = (decl: string) => {
    try {
      return lib.func(decl);
    } catch {
      return () => -1;
    }
  };
  return {
    flock,
    inotify_init1: optional("int inotify_init1(int flags)"),
    inotify_add_watch: optional("int inotify_add_watch(int fd, const char *path, uint32_t mask)"),
    inotify_rm_watch: optional("int inotify_rm_watch(int fd, int wd)"),
    dup3: optional("int dup3(int oldfd, int newfd, int flags)"),
    ppoll: optional("int ppoll(void *fds, unsigned long nfds, void *timeout, void *sigmask)"),
    read: optional("long read(int fd, void *buf, unsigned long count)"),
    close: optional("int close(int fd)"),
    errno: () => koffi.errno() as number,
  };
}

const O_CLOEXEC = 0o2000000; // Linux

/** Descriptors that threadOwned moved onto a number node:fs opened (Node tracks those in a worker). */
const moved = new Set<number>();

/**
 * A descriptor made through this binding (an inotify instance), moved to a number that
 * Node closes when this thread ends, if it is a worker, even by terminate() (Node tracks
 * the descriptors a worker opens with node:fs, and closes what is left at its end): a
 * worker that ends while it watches must not take the instance with it for the rest of
 * the process (inotify instances are counted per user, 128 by default). Close it with
 * closeThreadOwned. Where the move fails, `fd` itself.
 */
export function threadOwned(fd: number): number {
  if (isMainThread || !libc) return fd;
  let n: number;
  try {
    n = openSync("/dev/null", constants.O_RDONLY); // libuv opens close-on-exec
  } catch {
    return fd;
  }
  if (libc.dup3(fd, n, O_CLOEXEC) !== n) {
    closeSync(n);
    return fd;
  }
  libc.close(fd);
  moved.add(n);
  return n;
}

/** Closes a descriptor that threadOwned returned: through node:fs where Node tracks it (closing it otherwise would warn). */
export function closeThreadOwned(binding: Libc, fd: number): void {
  if (moved.delete(fd)) closeSync(fd);
  else binding.close(fd);
}

// A worker terminated while koffi loads in it aborts the whole process: koffi's module
// setup and `lib.func()` throw when the dying thread can no longer run JavaScript, and a
// throw that fails there is a fatal error (SIGABRT; koffi issue #190; seen in the torture
// test). Loading (~10 ms, once per thread) and terminating therefore exclude each other
// through one shared slot: the number of threads loading (> 0), or of terminations under
// way (< 0): terminate() of a worker started by a patched thread (coverage/children.ts),
// and the process's exit. Calls through a loaded binding are not affected.

/** Runs `load` in a worker only while no termination is under way, and holds terminations off meanwhile. */
function whileNotTerminated<T>(load: () => T): T {
  if (isMainThread) return load(); // a main thread is never terminated from outside
  const c = sharedCells();
  for (;;) {
    const n = Atomics.load(c, BINDING);
    if (n >= 0 && Atomics.compareExchange(c, BINDING, n, n + 1) === n) break;
    if (n < 0) Atomics.wait(c, BINDING, n, 100); // a termination is under way: this thread may be its target
  }
  try {
    return load();
  } finally {
    if (Atomics.sub(c, BINDING, 1) === 1) Atomics.notify(c, BINDING);
  }
}

/** Waits (without blocking) until no thread is loading koffi, then keeps loads off until the returned release is called. */
export async function holdOffLoading(): Promise<() => void> {
  const c = sharedCells();
  for (;;) {
    const n = Atomics.load(c, BINDING);
    if (n <= 0 && Atomics.compareExchange(c, BINDING, n, n - 1) === n) break;
    if (n > 0) await waitAsync(c, BINDING, n, 100).value;
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (Atomics.add(c, BINDING, 1) === -1) Atomics.notify(c, BINDING);
  };
}

/** As holdOffLoading, blocking, for good (at the process's exit): waits up to `ms` for loads under way. */
export function holdOffLoadingSync(ms: number): void {
  const c = sharedCells();
  const end = performance.now() + ms;
  for (;;) {
    const n = Atomics.load(c, BINDING);
    if (n <= 0 && Atomics.compareExchange(c, BINDING, n, n - 1) === n) return;
    const left = end - performance.now();
    if (left <= 0) return;
    if (n > 0) Atomics.wait(c, BINDING, n, left);
  }
}

/** Why there is no binding (after loadLibc() returned null). */
export function libcFailure(): string | undefined {
  return failure;
}
