// The C library's calls that Node has no API for (flock, inotify, ppoll), through the
// optional dependency koffi (an FFI with prebuilt binaries: nothing is compiled at
// install). Loaded once per thread, on first need, synchronously: locks are taken inside
// a synchronous `new File()`. Where koffi cannot load (another platform, `--omit=optional`)
// there is no libc here, and each user falls back (and says why).

import { createRequire } from "node:module";

export interface Libc {
  flock(fd: number, op: number): number;
  inotify_init1(flags: number): number;
  inotify_add_watch(fd: number, path: string, mask: number): number;
  inotify_rm_watch(fd: number, wd: number): number;
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
    libc = {
      flock,
      inotify_init1: optional("int inotify_init1(int flags)"),
      inotify_add_watch: optional("int inotify_add_watch(int fd, const char *path, uint32_t mask)"),
      inotify_rm_watch: optional("int inotify_rm_watch(int fd, int wd)"),
      ppoll: optional("int ppoll(void *fds, unsigned long nfds, void *timeout, void *sigmask)"),
      read: optional("long read(int fd, void *buf, unsigned long count)"),
      close: optional("int close(int fd)"),
      errno: () => koffi.errno() as number,
    };
  } catch (err) {
    failure = `koffi could not be loaded (${(err as Error)?.message?.split("\n")[0] ?? String(err)})`;
    libc = null;
  }
  return libc;
}

/** Why there is no binding (after loadLibc() returned null). */
export function libcFailure(): string | undefined {
  return failure;
}
