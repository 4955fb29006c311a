// Things let go but kept a moment for reuse (released records, the data file's unlocked
// descriptors): the common loop opens the same file again soon, and reusing costs a write
// where making anew costs a create, a mkdir, an rmdir... Bounded in number (each holds a
// descriptor: a loop over thousands of files must not run out) and in time (a kept record
// keeps its folder); disposed of by an unref'd timer, and at exit at the latest.

export interface KeepOptions {
  /** At most this many are kept; putting one more disposes of the oldest. */
  max: number;
  /** Each is disposed of once kept this long (ms), when the event loop gets to the timer. */
  keepMs: number;
}

export class Keep<V> {
  readonly #items = new Map<string, { value: V; at: number }>();
  #timer: NodeJS.Timeout | undefined;
  #hooked = false;

  constructor(
    readonly options: KeepOptions,
    /** Never throws (it runs in a timer and at exit). */
    readonly dispose: (value: V) => void,
  ) {}

  get size(): number {
    return this.#items.size;
  }

  /** Takes the kept value of `key` out, if any. */
  take(key: string): V | undefined {
    const item = this.#items.get(key);
    if (!item) return undefined;
    this.#items.delete(key);
    return item.value;
  }

  /** Keeps `value` under `key` (disposing of the one kept there before). */
  put(key: string, value: V): void {
    const previous = this.take(key);
    if (previous !== undefined) this.dispose(previous);
    if (this.#items.size >= this.options.max) {
      const [oldest, item] = this.#items.entries().next().value as [string, { value: V }];
      this.#items.delete(oldest);
      this.dispose(item.value);
    }
    this.#items.set(key, { value, at: performance.now() });
    this.#timer ??= setTimeout(() => this.#expire(), this.options.keepMs).unref();
    if (!this.#hooked) {
      this.#hooked = true;
      process.on("exit", () => this.clear());
    }
  }

  /** Disposes of everything kept now (at exit, or where no later will come); returns what it disposed of. */
  clear(): V[] {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const values = [...this.#items.values()].map((i) => i.value);
    this.#items.clear();
    for (const v of values) this.dispose(v);
    return values;
  }

  // Disposes of those kept long enough; the timer comes back for the rest. Insertion
  // order is age order (a put of an existing key moves it to the end).
  #expire(): void {
    this.#timer = undefined;
    const limit = performance.now() - this.options.keepMs;
    for (const [key, item] of this.#items) {
      if (item.at > limit) {
        this.#timer = setTimeout(() => this.#expire(), Math.max(1, item.at - limit)).unref();
        return;
      }
      this.#items.delete(key);
      this.dispose(item.value);
    }
  }
}
