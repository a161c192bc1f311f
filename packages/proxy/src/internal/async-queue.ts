/**
 * An unbounded push-based async iterable: producers `push` values and `end` or `fail`
 * it; one consumer iterates. Used to turn callback streams (HTTP/2 request bodies,
 * user-function responses) into the AsyncIterables the router works with.
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly values: T[] = [];
  private waiting: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | undefined;
  private done = false;
  private error: unknown;
  private failed = false;

  push(value: T): void {
    if (this.done || this.failed) return;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      w.resolve({ value, done: false });
    } else {
      this.values.push(value);
    }
  }

  end(): void {
    if (this.done || this.failed) return;
    this.done = true;
    if (this.waiting && this.values.length === 0) {
      const w = this.waiting;
      this.waiting = undefined;
      w.resolve({ value: undefined, done: true });
    }
  }

  fail(error: unknown): void {
    if (this.done || this.failed) return;
    this.failed = true;
    this.error = error;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      w.reject(error);
    }
  }

  /** Whether `end` or `fail` was called. */
  get closed(): boolean {
    return this.done || this.failed;
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        const value = this.values.shift();
        if (value !== undefined || this.values.length > 0) return Promise.resolve({ value: value as T, done: false });
        if (this.failed) return Promise.reject(this.error);
        if (this.done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => {
          this.waiting = { resolve, reject };
        });
      },
      return: () => {
        this.done = true;
        this.values.length = 0;
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
