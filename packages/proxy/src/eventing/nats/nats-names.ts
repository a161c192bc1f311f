import { createHash } from "node:crypto";

/**
 * How Switchboard names its things in JetStream. A topic name may hold any character,
 * but stream and consumer names may not contain `.`, `*`, `>`, `/`, `\` or whitespace,
 * and subject tokens may not contain `.`, `*`, `>` or whitespace. So every name is a
 * readable, cleaned prefix of the original plus a hash of the whole original: two topics
 * that clean up to the same text (`orders.eu` and `orders_eu`) still get different streams.
 */
function safeName(prefix: string, original: string): string {
  const readable = original.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 48);
  const hash = createHash("sha256").update(original).digest("hex").slice(0, 10);
  return `${prefix}${readable}_${hash}`;
}

/** The JetStream stream that holds `topic`: `SB_<cleaned topic>_<hash>`. */
export function streamNameOf(topic: string): string {
  return safeName("SB_", topic);
}

/** The one subject of `topic`'s stream: `switchboard.topic.<stream name>`. */
export function subjectOf(topic: string): string {
  return `switchboard.topic.${streamNameOf(topic)}`;
}

/** The durable consumer of a consumer group: `<cleaned group>_<hash>`. */
export function durableNameOf(group: string): string {
  return safeName("", group);
}

/** The header that carries the payload's `google.protobuf.Any` type URL. */
export const TYPE_URL_HEADER = "switchboard-type-url";

/**
 * Header names and values may not hold control characters or newlines (a dead-letter
 * reason may): `%` and everything outside printable ASCII is percent-encoded (UTF-8),
 * as the CloudEvents HTTP binding does for header values.
 */
export function encodeHeaderText(text: string, allowSpace: boolean): string {
  return text.replace(allowSpace ? /[^\x20-\x7e]|%/gu : /[^\x21-\x7e]|%|:/gu, (c) => {
    try {
      return encodeURIComponent(c);
    } catch {
      return "%EF%BF%BD"; // a lone surrogate: U+FFFD
    }
  });
}

/** Reverses {@link encodeHeaderText}. */
export function decodeHeaderText(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
