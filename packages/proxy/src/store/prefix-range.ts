/**
 * The half-open range [low, high) of strings starting with `prefix`, in code-point
 * (UTF-8 byte) order: every such string sorts at or after `prefix` and before `prefix`
 * followed by the highest code point, so an index on the column answers prefix queries.
 */
export function prefixRange(prefix: string): { readonly low: string; readonly high: string } {
  return { low: prefix, high: `${prefix}\u{10FFFF}` };
}
