/**
 * The error a failed TCK expectation throws. It carries only a message written for the
 * person reading the run's output: what was expected, and what came instead.
 */
export class TckAssertionError extends Error {
  override readonly name = "TckAssertionError";
}

/** Throws a {@link TckAssertionError} with `message` unless `condition` holds. */
export function check(condition: boolean, message: string | (() => string)): asserts condition {
  if (!condition) throw new TckAssertionError(typeof message === "string" ? message : message());
}

/** JSON for the message, with bigints (int64 fields) written as `<n>n` instead of throwing. */
function printable(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? `${v}n` : v)) ?? String(value);
}

/** Compares two values with `===` and throws a readable error when they differ. */
export function checkEqual<T>(actual: T, expected: T, what: string): void {
  if (actual !== expected) {
    throw new TckAssertionError(`${what}: expected ${printable(expected)}, got ${printable(actual)}`);
  }
}
