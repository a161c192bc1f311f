/** How topic consumers treat a message whose delivery fails. */
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
}

/** Defaults of {@link EventingConfig}. */
export const EVENTING_DEFAULTS: EventingConfig = Object.freeze({ topicMaxAttempts: 5, topicRetryBackoffMs: 500 });

/** The flags of {@link parseEventing}, for `parseArgs`. */
export const EVENTING_OPTIONS = {
  "topic-max-attempts": { type: "string" },
  "topic-retry-backoff": { type: "string" },
  eventing: { type: "string" },
} as const;

/** Help lines of the eventing flags. */
export const EVENTING_HELP = `  --topic-max-attempts <n>      deliveries before dead-lettering  env TOPIC_MAX_ATTEMPTS  (5)
  --topic-retry-backoff <ms>    first retry delay, then doubled   env TOPIC_RETRY_BACKOFF (500)
  --eventing <url>              topics on NATS JetStream: nats://host:port  env EVENTING_URL
                                (default: the embedded broker, topics in the store)
`;

type Values = { readonly [K in keyof typeof EVENTING_OPTIONS]?: string };

/** Parses the eventing flags (flag > environment > default); a string is the reason they are wrong. */
export function parseEventing(values: Values, pick: (flag: string | undefined, envName: string) => string | undefined): EventingConfig | string {
  const attempts = pick(values["topic-max-attempts"], "TOPIC_MAX_ATTEMPTS");
  const backoff = pick(values["topic-retry-backoff"], "TOPIC_RETRY_BACKOFF");
  const whole = (raw: string) => /^\d+$/.test(raw) && Number.isSafeInteger(Number(raw));
  if (attempts !== undefined && (!whole(attempts) || Number(attempts) < 1))
    return `--topic-max-attempts must be a whole number of at least 1, got "${attempts}"`;
  if (backoff !== undefined && !whole(backoff)) return `--topic-retry-backoff must be a whole number of milliseconds, got "${backoff}"`;
  const eventing = pick(values.eventing, "EVENTING_URL");
  return {
    ...(eventing === undefined || eventing === "" ? {} : { brokerUrl: eventing }),
    topicMaxAttempts: attempts === undefined ? EVENTING_DEFAULTS.topicMaxAttempts : Number(attempts),
    topicRetryBackoffMs: backoff === undefined ? EVENTING_DEFAULTS.topicRetryBackoffMs : Number(backoff),
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
