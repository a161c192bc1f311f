/** How topic consumers treat a message whose delivery fails, and how long the embedded broker keeps messages. */
export interface EventingConfig {
  /** Deliveries of one message before it goes to `<topic>.dead-letter` (1: no retry). */
  readonly topicMaxAttempts: number;
  /** Wait before the first retry; it doubles with each further one, up to 30 s. */
  readonly topicRetryBackoffMs: number;
  /**
   * `--eventing`: the external broker topics live in, as given (`nats://host:port`; checked
   * by {@link parseBrokerUrl} when the proxy starts, so a bad one exits 1 like an unreachable
   * server). Absent: the embedded broker (topics in the store).
   */
  readonly brokerUrl?: string;
  /** Messages older than this are removed from the embedded broker's topics (absent: kept by age). */
  readonly topicRetentionMs?: number;
  /** Each topic keeps at most this many bytes, its newest messages (absent: no size limit). */
  readonly topicRetentionBytes?: number;
  /** How often retention runs, in ms (only with a retention limit). */
  readonly topicRetentionCheckMs: number;
}

/** Defaults of {@link EventingConfig}. */
export const EVENTING_DEFAULTS: EventingConfig = Object.freeze({ topicMaxAttempts: 5, topicRetryBackoffMs: 500, topicRetentionCheckMs: 60_000 });

/** The flags of {@link parseEventing}, for `parseArgs`. */
export const EVENTING_OPTIONS = {
  "topic-max-attempts": { type: "string" },
  "topic-retry-backoff": { type: "string" },
  eventing: { type: "string" },
  "topic-retention": { type: "string" },
  "topic-retention-bytes": { type: "string" },
  "topic-retention-check": { type: "string" },
} as const;

/** Help lines of the eventing flags. */
export const EVENTING_HELP = `  --topic-max-attempts <n>      deliveries before dead-lettering  env TOPIC_MAX_ATTEMPTS  (5)
  --topic-retry-backoff <ms>    first retry delay, then doubled   env TOPIC_RETRY_BACKOFF (500)
  --eventing <url>              topics on NATS JetStream: nats://host:port  env EVENTING_URL
                                (default: the embedded broker, topics in the store)
  --topic-retention <duration>  keep topic messages this long (7d, 12h, 30m, 90s, ms)  env TOPIC_RETENTION (forever)
  --topic-retention-bytes <n>   keep at most n bytes per topic    env TOPIC_RETENTION_BYTES (no limit)
  --topic-retention-check <ms>  how often retention runs          env TOPIC_RETENTION_CHECK (60000)
`;

type Values = { readonly [K in keyof typeof EVENTING_OPTIONS]?: string };

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses a duration: a whole number with a unit (`ms`, `s`, `m`, `h`, `d`), or bare milliseconds; undefined when it is none. */
export function parseDuration(raw: string): number | undefined {
  const match = /^(\d+)(ms|s|m|h|d)?$/.exec(raw.trim());
  if (match === null) return undefined;
  const ms = Number(match[1]) * (UNITS[match[2] ?? "ms"] ?? 1);
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/** Parses the eventing flags (flag > environment > default); a string is the reason they are wrong. */
export function parseEventing(values: Values, pick: (flag: string | undefined, envName: string) => string | undefined): EventingConfig | string {
  const attempts = pick(values["topic-max-attempts"], "TOPIC_MAX_ATTEMPTS");
  const backoff = pick(values["topic-retry-backoff"], "TOPIC_RETRY_BACKOFF");
  const retention = pick(values["topic-retention"], "TOPIC_RETENTION");
  const retentionBytes = pick(values["topic-retention-bytes"], "TOPIC_RETENTION_BYTES");
  const retentionCheck = pick(values["topic-retention-check"], "TOPIC_RETENTION_CHECK");
  const whole = (raw: string) => /^\d+$/.test(raw) && Number.isSafeInteger(Number(raw));
  if (attempts !== undefined && (!whole(attempts) || Number(attempts) < 1))
    return `--topic-max-attempts must be a whole number of at least 1, got "${attempts}"`;
  if (backoff !== undefined && !whole(backoff)) return `--topic-retry-backoff must be a whole number of milliseconds, got "${backoff}"`;
  const eventing = pick(values.eventing, "EVENTING_URL");
  const retentionMs = retention === undefined ? undefined : parseDuration(retention);
  if (retention !== undefined && (retentionMs === undefined || retentionMs < 1))
    return `--topic-retention must be a positive duration such as 7d, 12h, 30m, 90s or 500 (ms), got "${retention}"`;
  if (retentionBytes !== undefined && (!whole(retentionBytes) || Number(retentionBytes) < 1))
    return `--topic-retention-bytes must be a whole number of bytes of at least 1, got "${retentionBytes}"`;
  if (retentionCheck !== undefined && (!whole(retentionCheck) || Number(retentionCheck) < 1))
    return `--topic-retention-check must be a whole number of milliseconds of at least 1, got "${retentionCheck}"`;
  return {
    ...(eventing === undefined || eventing === "" ? {} : { brokerUrl: eventing }),
    topicMaxAttempts: attempts === undefined ? EVENTING_DEFAULTS.topicMaxAttempts : Number(attempts),
    topicRetryBackoffMs: backoff === undefined ? EVENTING_DEFAULTS.topicRetryBackoffMs : Number(backoff),
    ...(retentionMs === undefined ? {} : { topicRetentionMs: retentionMs }),
    ...(retentionBytes === undefined ? {} : { topicRetentionBytes: Number(retentionBytes) }),
    topicRetentionCheckMs: retentionCheck === undefined ? EVENTING_DEFAULTS.topicRetentionCheckMs : Number(retentionCheck),
  };
}

/** Checks `--eventing`: `nats://host[:port]` (port 4222 by default), nothing else; a string is the reason it is wrong. */
export function parseBrokerUrl(raw: string): { kind: "nats"; url: string } | string {
  const wrong = (why: string) => `--eventing must be nats://host:port, got "${raw}": ${why}`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return wrong("not a URL");
  }
  if (url.protocol !== "nats:") return wrong(`the scheme ${url.protocol.slice(0, -1)} is not supported (only nats)`);
  if (url.hostname === "") return wrong("no host");
  if ((url.pathname !== "" && url.pathname !== "/") || url.search !== "" || url.hash !== "") return wrong("a path, query or fragment means nothing here");
  if (url.username !== "" || url.password !== "") return wrong("credentials in the URL are not supported");
  return { kind: "nats", url: `nats://${url.hostname}:${url.port === "" ? "4222" : url.port}` };
}
