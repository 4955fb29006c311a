// signal-exit 3 ships no types. It is the version proper-lockfile loads; using the same
// one keeps their listener counts in agreement, so signals still kill the process.
declare module "signal-exit" {
  function onExit(callback: (code: number | null, signal: NodeJS.Signals | null) => void, options?: { alwaysLast?: boolean }): () => void;
  export default onExit;
}
