// What a test can ask an agent (test/fixtures/agent.ts) to do, and what it answers.

/** How the agent opens: h5wasm's default File, the named File, a subclass, the Emscripten module, or the explicit API. */
export type Via = "default" | "named" | "subclass" | "module" | "explicit";

export type Command =
  | { cmd: "open"; file: string; mode: string; via?: Via; options?: Record<string, unknown> }
  | { cmd: "close"; index: number }
  /** Close, then open again in the same synchronous run (the thread's idle record is reused). */
  | { cmd: "closeThenOpen"; index: number; file: string; mode: string; via?: Via }
  /** Start openFileAsync and answer at once with its number; `settle` answers when it has opened. */
  | { cmd: "openAsync"; file: string; mode: string; options?: Record<string, unknown> }
  | { cmd: "settle"; pending: number }
  /** openFileAsync(file, mode), then at once (before it opens) close handle `index`; answers when it has opened. */
  | { cmd: "asyncThenClose"; file: string; mode: string; index: number }
  /** openFileAsync(file, asyncMode), then one microtask later a patched new File(file, syncMode); both kept open. */
  | { cmd: "asyncThenSync"; file: string; asyncMode: string; syncMode: string }
  /** Close, reply, then block the thread for good (as a worker terminated right after a close). */
  | { cmd: "closeAndHang"; index: number }
  // Opens and closes `times` times, makes `ready`, blocks (timers cannot run: its idle record
  // stays) until `go` exists, then opens once more and keeps it.
  | { cmd: "reuseThenOpen"; file: string; mode: string; times: number; ready: string; go: string }
  | { cmd: "swmr"; index: number }
  /** Open with "a", append one dataset <prefix>_<i>, close: for `ms`; answers how many. */
  | { cmd: "appendFor"; file: string; prefix: string; ms: number }
  /** Open with "a", append one dataset, close: `count` times. */
  | { cmd: "append"; file: string; prefix: string; count: number; via?: Via }
  /** SWMR writer: grow /data by `values` and flush. */
  | { cmd: "extend"; index: number; values: number[] }
  | { cmd: "read"; index: number; refresh?: boolean }
  | { cmd: "keys"; file: string; via?: Via }
  | { cmd: "throwing"; on: boolean }
  | { cmd: "registry"; file?: string }
  | { cmd: "inspect"; file: string }
  /** One long synchronous call: the event loop (and any timer) stops for `ms`. */
  | { cmd: "busy"; ms: number }
  | { cmd: "exit"; code?: number };

export interface AgentConfig {
  patch: boolean;
  /** The agent's name in the ordering log. */
  name: string;
  /** The ordering log: "<name> opened <mode>" after each open returns, "<name> closing" before each close. */
  log?: string;
}

export interface Reply {
  ok: boolean;
  value?: any;
  error?: { name: string; code?: string; message: string; path?: string; mode?: string; lock?: string; waitedMs?: number; holders?: any[] };
}
