import { debuglog } from "node:util";
import { threadId } from "node:worker_threads";

const log = debuglog("h5-threadsafe");

/** Debug output, on with NODE_DEBUG=h5-threadsafe: "H5-THREADSAFE <pid>: [thread <id>] ...". */
export const debug = Object.assign((format: string, ...args: unknown[]) => log(`[thread ${threadId}] ${format}`, ...args), {
  get enabled(): boolean {
    return log.enabled;
  },
});
