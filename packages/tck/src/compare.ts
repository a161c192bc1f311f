/**
 * Exact protobuf comparison with readable failures: the TCK compares whole messages, as
 * upstream compares ScalaPB case classes.
 */
import { type DescMessage, equals, type MessageShape } from "@bufbuild/protobuf";
import { TckAssertionError } from "./assertion-error.js";
import { describeMessage } from "./describe.js";

/** Throws unless `actual` equals `expected` field for field (unknown fields ignored). */
export function expectMessage<D extends DescMessage>(schema: D, actual: MessageShape<D>, expected: MessageShape<D>, what: string): void {
  if (!equals(schema, actual, expected)) {
    throw new TckAssertionError(`unexpected ${what}:\n  expected ${describeMessage(schema, expected)}\n  received ${describeMessage(schema, actual)}`);
  }
}
