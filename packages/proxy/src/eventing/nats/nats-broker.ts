import type { Consumer, ConsumerConfig, ConsumerInfo, JetStreamClient, JetStreamManager, JsMsg, StoredMsg } from "@nats-io/jetstream";
import type { MsgHdrs, NatsConnection, Subscription } from "@nats-io/transport-node";
import { Code, SwitchboardError } from "../../errors/index.js";
import type { Logger } from "../../observability/logger.js";
import type { TopicMessage, TopicRecord } from "../../store/types.js";
import { createPublishWakeups } from "../publish-wakeups.js";
import type { TopicBroker } from "../topic-broker.js";
import { decodeHeaderText, durableNameOf, encodeHeaderText, streamNameOf, subjectOf, TYPE_URL_HEADER } from "./nats-names.js";

/** Options of {@link connectNatsBroker}. */
export interface NatsBrokerOptions {
  /** `nats://host:port` (already checked by the config). */
  readonly url: string;
  readonly logger: Logger;
  /** Longest wait for the first connection (ms; default 5000). */
  readonly connectTimeoutMs?: number;
  /** Limits of the streams Switchboard creates (0 or absent: unlimited). */
  readonly retention?: { readonly maxAgeMs?: number; readonly maxBytes?: number };
  /**
   * How long JetStream waits for the ack of a message a consumer group pulled before it
   * delivers it again (ms; default 5 minutes). Switchboard acks a batch once it is
   * processed and repositions a group's consumer when a node takes it over, so this only
   * bounds how long a message may be held by a node that stopped answering.
   */
  readonly ackWaitMs?: number;
}

/** The NATS JetStream broker: a {@link TopicBroker} plus its connection's state. */
export interface NatsBroker extends TopicBroker {
  /** Whether the connection to the NATS server is up (false while it reconnects). */
  connected(): boolean;
  /** Drains the connection. */
  close(): Promise<void>;
}

/** Per consumer group: the durable consumer's position as this process last set or saw it. */
interface GroupState {
  /** Serializes the group's loads and saves. */
  chain: Promise<unknown>;
  /** The group's offset (the durable consumer's ack floor), once loaded. */
  floor: number | undefined;
  /** The highest stream sequence pulled through the durable consumer since it was positioned. */
  pulled: number;
  /** Pulled messages not acked yet, in sequence order. */
  lookahead: JsMsg[];
  consumer: Consumer | undefined;
}

const NANOS_PER_MS = 1_000_000;

/**
 * Connects to a NATS server with JetStream and returns the broker the topic consumers,
 * the reply publisher and the HTTP surface use (docs/eventing.md, "NATS JetStream"):
 *
 * - a topic is a stream ({@link streamNameOf}) with one subject ({@link subjectOf}),
 *   created with the first publish or read; a message's offset is its stream sequence;
 * - a message is the payload's bytes, with the type URL and every CloudEvents
 *   attribute (`ce-<name>`) as headers;
 * - `publish` resolves once JetStream acknowledged every message (PubAck);
 * - a consumer group is a durable pull consumer (ack policy "all") whose ack floor is
 *   the group's offset: saving an offset pulls the group's messages up to it and acks the
 *   last one, so JetStream holds the group's progress.
 *
 * The driver is loaded here with `import()`, so a proxy without `--eventing` never loads it.
 * Rejects with UNAVAILABLE and a one-line reason when the server cannot be reached or has
 * no JetStream.
 */
export async function connectNatsBroker(options: NatsBrokerOptions): Promise<NatsBroker> {
  const { url, logger } = options;
  const [transport, js] = await Promise.all([import("@nats-io/transport-node"), import("@nats-io/jetstream")]).catch((error: unknown) => {
    throw new SwitchboardError(
      `--eventing ${url} needs the optional packages @nats-io/transport-node and @nats-io/jetstream: ${(error as Error).message}`,
      Code.FailedPrecondition,
    );
  });
  const { AckPolicy, DeliverPolicy, DiscardPolicy, JetStreamApiCodes, JetStreamApiError, RetentionPolicy, StorageType } = js;
  let nc: NatsConnection;
  try {
    nc = await transport.connect({
      servers: url,
      name: "switchboard",
      timeout: options.connectTimeoutMs ?? 5000,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1000,
    });
  } catch (error) {
    throw new SwitchboardError(`cannot reach the NATS server at ${url}: ${(error as Error).message}`, Code.Unavailable, { cause: error });
  }
  let jsm: JetStreamManager;
  try {
    jsm = await js.jetstreamManager(nc, { timeout: options.connectTimeoutMs ?? 5000 });
  } catch (error) {
    await nc.close().catch(() => undefined);
    throw new SwitchboardError(`the NATS server at ${url} has no JetStream (start it with -js): ${(error as Error).message}`, Code.Unavailable, {
      cause: error,
    });
  }
  const client: JetStreamClient = js.jetstream(nc);
  const log = logger.child({ component: "nats" });
  let up = true;
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "disconnect") {
        up = false;
        log.warn("lost the NATS server; reconnecting (not ready meanwhile)", { server: status.server });
      } else if (status.type === "reconnect") {
        up = true;
        log.info("reconnected to the NATS server", { server: status.server });
      }
    }
  })();

  const retention = {
    max_age: Math.max(0, options.retention?.maxAgeMs ?? 0) * NANOS_PER_MS,
    max_bytes: options.retention?.maxBytes !== undefined && options.retention.maxBytes > 0 ? options.retention.maxBytes : -1,
  };
  const ackWait = (options.ackWaitMs ?? 300_000) * NANOS_PER_MS;
  const apiCode = (error: unknown) => (error instanceof JetStreamApiError ? error.code : undefined);
  const unavailable = (what: string, error: unknown) =>
    error instanceof SwitchboardError
      ? error
      : new SwitchboardError(`NATS JetStream: ${what}: ${(error as Error).message}`, Code.Unavailable, { cause: error });

  /** Creates the topic's stream when it does not exist yet, and applies the retention limits. */
  const streams = new Map<string, Promise<void>>();
  function ensureStream(topic: string): Promise<void> {
    let ready = streams.get(topic);
    if (ready === undefined) {
      const name = streamNameOf(topic);
      ready = (async () => {
        try {
          const info = await jsm.streams.info(name);
          if (info.config.max_age !== retention.max_age || info.config.max_bytes !== retention.max_bytes) {
            await jsm.streams.update(name, { ...info.config, ...retention });
          }
        } catch (error) {
          if (apiCode(error) !== JetStreamApiCodes.StreamNotFound) throw error;
          await jsm.streams
            .add({
              name,
              subjects: [subjectOf(topic)],
              storage: StorageType.File,
              retention: RetentionPolicy.Limits,
              discard: DiscardPolicy.Old,
              description: `switchboard topic ${JSON.stringify(topic)}`.slice(0, 4000),
              ...retention,
            })
            // Another proxy created it meanwhile: fine, it is the same stream.
            .catch(async (addError: unknown) => {
              await jsm.streams.info(name).catch(() => {
                throw addError;
              });
            });
        }
      })();
      streams.set(topic, ready);
      ready.catch(() => streams.delete(topic));
    }
    return ready;
  }

  // Wake-ups: a core subscription on each topic a reader waits on sees every publish,
  // this proxy's and other processes'.
  const wakeups = createPublishWakeups();
  const subscriptions = new Map<string, Subscription>();
  function watch(topic: string): void {
    if (subscriptions.has(topic)) return;
    subscriptions.set(topic, nc.subscribe(subjectOf(topic), { callback: () => wakeups.bump(topic) }));
  }

  /** The first and last sequence of a stream (first > last when it is empty); undefined when it does not exist. */
  async function boundsOf(stream: string): Promise<{ first: number; last: number } | undefined> {
    try {
      const { state } = await jsm.streams.info(stream);
      return { first: state.first_seq, last: state.last_seq };
    } catch (error) {
      if (apiCode(error) === JetStreamApiCodes.StreamNotFound) return undefined;
      throw error;
    }
  }

  function headersOf(message: TopicMessage): MsgHdrs {
    const h = transport.headers();
    h.set(TYPE_URL_HEADER, encodeHeaderText(message.payload.typeUrl, true));
    for (const [name, value] of Object.entries(message.attributes)) h.set(`ce-${encodeHeaderText(name, false)}`, encodeHeaderText(value, true));
    return h;
  }

  function recordOf(message: StoredMsg): TopicRecord {
    const attributes: Record<string, string> = {};
    let typeUrl = "";
    const h = message.header;
    for (const key of h.keys()) {
      const value = h.get(key);
      if (key.toLowerCase() === TYPE_URL_HEADER) typeUrl = decodeHeaderText(value);
      else if (key.toLowerCase().startsWith("ce-")) attributes[decodeHeaderText(key.slice(3))] = decodeHeaderText(value);
    }
    return { offset: message.seq, publishedAt: message.time.getTime(), payload: { typeUrl, value: message.data }, attributes };
  }

  // Consumer groups.
  const groups = new Map<string, Map<string, GroupState>>();
  function groupOf(topic: string, group: string): GroupState {
    let byGroup = groups.get(topic);
    if (byGroup === undefined) {
      byGroup = new Map();
      groups.set(topic, byGroup);
    }
    let state = byGroup.get(group);
    if (state === undefined) {
      state = { chain: Promise.resolve(), floor: undefined, pulled: 0, lookahead: [], consumer: undefined };
      byGroup.set(group, state);
    }
    return state;
  }
  function serialized<T>(state: GroupState, body: () => Promise<T>): Promise<T> {
    const result = state.chain.then(body);
    state.chain = result.catch(() => undefined);
    return result;
  }
  function consumerConfig(group: string, after: number): Partial<ConsumerConfig> {
    return {
      durable_name: durableNameOf(group),
      description: `switchboard consumer group ${JSON.stringify(group)}`.slice(0, 4000),
      ack_policy: AckPolicy.All,
      ack_wait: ackWait,
      max_ack_pending: -1,
      ...(after === 0 ? { deliver_policy: DeliverPolicy.All } : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: after + 1 }),
    };
  }
  /** The group's offset as the durable consumer holds it: its ack floor, else where it was created to start. */
  function floorOf(info: ConsumerInfo): number {
    if (info.ack_floor.consumer_seq > 0) return info.ack_floor.stream_seq;
    return Math.max(0, (info.config.opt_start_seq ?? 1) - 1);
  }
  /** (Re)creates the group's durable consumer so that its next message is the one after `after`. */
  async function position(topic: string, group: string, state: GroupState, after: number): Promise<void> {
    const stream = streamNameOf(topic);
    const durable = durableNameOf(group);
    await jsm.consumers.delete(stream, durable).catch((error: unknown) => {
      if (apiCode(error) !== JetStreamApiCodes.ConsumerNotFound) throw error;
    });
    await jsm.consumers.add(stream, consumerConfig(group, after));
    state.floor = after;
    state.pulled = after;
    state.lookahead = [];
    state.consumer = undefined;
  }

  async function load(topic: string, group: string, state: GroupState): Promise<number> {
    await ensureStream(topic);
    let info: ConsumerInfo;
    try {
      info = await jsm.consumers.info(streamNameOf(topic), durableNameOf(group));
    } catch (error) {
      if (apiCode(error) !== JetStreamApiCodes.ConsumerNotFound) throw error;
      await jsm.consumers.add(streamNameOf(topic), consumerConfig(group, 0)).catch(async (addError: unknown) => {
        // Created by another process meanwhile.
        await jsm.consumers.info(streamNameOf(topic), durableNameOf(group)).catch(() => {
          throw addError;
        });
      });
      info = await jsm.consumers.info(streamNameOf(topic), durableNameOf(group));
    }
    const floor = floorOf(info);
    // Messages delivered but not acked (a node that died mid-batch, or this process before
    // it restarted the consumer) would come back only after the ack wait, and after newer
    // ones: position the consumer right after the floor, so they come again first, in order.
    if (info.delivered.consumer_seq > info.ack_floor.consumer_seq || state.lookahead.length > 0) await position(topic, group, state, floor);
    else {
      state.floor = floor;
      state.pulled = Math.max(floor, info.delivered.stream_seq);
      state.lookahead = [];
    }
    return floor;
  }

  async function save(topic: string, group: string, state: GroupState, offset: number): Promise<void> {
    const floor = state.floor ?? (await load(topic, group, state));
    if (offset === floor) return;
    if (offset < floor) {
      // Going back (a replay): a consumer cannot be moved back, so it is made anew.
      await position(topic, group, state, offset);
      return;
    }
    state.consumer ??= await client.consumers.get(streamNameOf(topic), durableNameOf(group));
    const consumer = state.consumer;
    while (state.pulled < offset) {
      const batch = await consumer.fetch({ max_messages: Math.min(offset - state.pulled, 1000), expires: 1000 });
      let count = 0;
      for await (const message of batch) {
        count++;
        // A redelivery (the ack wait ran out) of a message already pulled: it is acked with the later ones.
        if (message.seq <= state.pulled) continue;
        state.pulled = message.seq;
        state.lookahead.push(message);
      }
      // Fewer messages than offsets: retention removed some. The floor moves to the last one there is.
      if (count === 0) break;
    }
    let last: JsMsg | undefined;
    while (state.lookahead.length > 0 && (state.lookahead[0]?.seq ?? Number.POSITIVE_INFINITY) <= offset) last = state.lookahead.shift();
    if (last !== undefined && !(await last.ackAck({ timeout: 5000 }))) {
      state.floor = undefined; // unknown now: loaded again before the next save
      throw new SwitchboardError(`JetStream did not confirm the ack of offset ${last.seq}`, Code.Unavailable);
    }
    state.floor = offset;
  }

  return {
    async publish(topic, messages) {
      if (topic === "" || messages.length === 0) throw new SwitchboardError("publish needs a topic and at least one message", Code.InvalidArgument);
      try {
        await ensureStream(topic);
        const stream = streamNameOf(topic);
        // Sent in order on one connection, so they are stored in order.
        const acks = await Promise.all(
          messages.map((message) => client.publish(subjectOf(topic), message.payload.value, { headers: headersOf(message), expect: { streamName: stream } })),
        );
        wakeups.bump(topic);
        return acks.map((ack) => ack.seq);
      } catch (error) {
        throw unavailable(`publish to topic "${topic}"`, error);
      }
    },
    async read(topic, afterOffset, limit) {
      watch(topic);
      const stream = streamNameOf(topic);
      try {
        const bounds = await boundsOf(stream);
        if (bounds === undefined) return [];
        const { first, last } = bounds;
        const from = Math.max(afterOffset + 1, first);
        const to = Math.min(last, from + limit - 1);
        if (to < from) return [];
        const found = await Promise.all(Array.from({ length: to - from + 1 }, (_, i) => jsm.streams.getMessage(stream, { seq: from + i })));
        // A missing sequence was removed (retention) between the info and the get.
        return found.flatMap((message) => (message === null ? [] : [recordOf(message)]));
      } catch (error) {
        throw unavailable(`read topic "${topic}"`, error);
      }
    },
    async offsetAtTime(topic, time) {
      const stream = streamNameOf(topic);
      try {
        const bounds = await boundsOf(stream);
        if (bounds === undefined) return 0;
        const { first, last } = bounds;
        // Binary search on the stored times for the first sequence published at or after `time`.
        let low = first;
        let high = last;
        let found = last + 1;
        while (low <= high) {
          const middle = Math.floor((low + high) / 2);
          const message = await jsm.streams.getMessage(stream, { seq: middle });
          // A missing sequence was removed (retention) meanwhile: it was older.
          if (message === null || message.time.getTime() < time) low = middle + 1;
          else {
            found = middle;
            high = middle - 1;
          }
        }
        return Math.max(0, found - 1);
      } catch (error) {
        throw unavailable(`find the offset at a time in topic "${topic}"`, error);
      }
    },
    loadGroupOffset(topic, group) {
      const state = groupOf(topic, group);
      return serialized(state, () => load(topic, group, state)).catch((error: unknown) => {
        throw unavailable(`load the offset of group "${group}" on topic "${topic}"`, error);
      });
    },
    saveGroupOffset(topic, group, offset) {
      const state = groupOf(topic, group);
      return serialized(state, () => save(topic, group, state, offset)).catch((error: unknown) => {
        state.floor = undefined;
        throw unavailable(`store the offset of group "${group}" on topic "${topic}"`, error);
      });
    },
    version(topic) {
      watch(topic);
      return wakeups.version(topic);
    },
    waitForPublish(topic, version, signal, timeoutMs) {
      watch(topic);
      return wakeups.wait(topic, version, signal, timeoutMs);
    },
    connected: () => up && !nc.isClosed(),
    async close() {
      for (const subscription of subscriptions.values()) subscription.unsubscribe();
      await nc.drain().catch(() => undefined);
    },
  };
}
