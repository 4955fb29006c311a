import { debuglog } from "node:util";

/** Debug output, on with NODE_DEBUG=h5-threadsafe. */
export const debug = debuglog("h5-threadsafe");
