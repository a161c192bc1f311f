import type { JsonValue } from "@bufbuild/protobuf";
import type { ServiceModel } from "../descriptors/service-model.js";
import type { ConsumerGroups } from "../eventing/consumer-groups.js";
import { topicSubscriptions } from "../eventing/subscriptions.js";
import type { TopicBroker } from "../eventing/topic-broker.js";
import { nearestNames } from "./nearest-names.js";

/** What the topic endpoints of the admin API use. */
export interface TopicAdminDeps {
  readonly broker: Pick<TopicBroker, "read" | "loadGroupOffset" | "saveGroupOffset" | "offsetAtTime">;
  /** Makes a running consumer of the group take up a new offset. */
  readonly groups: ConsumerGroups;
}

/** An answer of the topic endpoints: an HTTP status and a JSON body. */
export interface TopicAdminResponse {
  readonly status: number;
  readonly body: JsonValue;
}

/** The topic endpoints of the admin API. */
export interface TopicAdmin {
  /** Answers `segments` (the path after `/v1/`, starting with `topics`), or undefined when they name no topic endpoint. */
  handle(method: string, segments: readonly string[], body: string, model: ServiceModel | undefined): Promise<TopicAdminResponse | undefined>;
}

const fail = (status: number, error: string, extra: Record<string, JsonValue> = {}): TopicAdminResponse => ({ status, body: { error, ...extra } });

/** A time later than any message can have been published, for the topic's last offset. */
const FAR_FUTURE_MS = 100 * 365 * 86_400_000;

/**
 * The consumer-group endpoints under `/v1/topics/`:
 *
 * - `GET /v1/topics/{topic}/groups/{group}`: the group's stored offset and the topic's
 *   first retained and last offsets.
 * - `POST /v1/topics/{topic}/groups/{group}/offset` with `{"offset": n}` or
 *   `{"time": "<ISO 8601>"}`: replays (or skips) the group from after offset `n`, or from
 *   the first message published at or after the time. A consumer of the group running in
 *   this proxy finishes its batch in flight, then consumes from the new offset.
 *
 * A group is known when a method of the model consumes the topic in it, or when it has
 * stored progress (a `group=` reader over HTTP); a topic when it has messages or a
 * consumer. Unknown names answer 404, bad values 400, an offset removed by retention 410.
 */
export function createTopicAdmin(deps: TopicAdminDeps): TopicAdmin {
  const { broker } = deps;

  async function describe(topic: string) {
    const [first] = await broker.read(topic, 0, 1);
    const last = await broker.offsetAtTime(topic, Date.now() + FAR_FUTURE_MS);
    return { firstOffset: first?.offset ?? 0, lastOffset: last };
  }

  /** The group's stored offset, or a 404 when the topic or the group is unknown. */
  async function find(
    model: ServiceModel | undefined,
    topic: string,
    group: string,
  ): Promise<{ offset: number; firstOffset: number; lastOffset: number } | TopicAdminResponse> {
    const subscriptions = model === undefined ? [] : topicSubscriptions(model).subscriptions;
    const consumed = subscriptions.filter((s) => s.tag === topic);
    const range = await describe(topic);
    if (range.lastOffset === 0 && consumed.length === 0) {
      const known = [...new Set(subscriptions.map((s) => s.tag))];
      const nearest = nearestNames(topic, known);
      return fail(
        404,
        `no topic "${topic}": it has no messages and no method consumes it${nearest.length > 0 ? `; did you mean ${nearest.join(", ")}?` : ""}`,
        { nearest },
      );
    }
    const offset = await broker.loadGroupOffset(topic, group);
    const groups = consumed.map((s) => s.group);
    if (offset === 0 && !groups.includes(group)) {
      const nearest = nearestNames(group, groups);
      return fail(
        404,
        `no consumer group "${group}" on topic "${topic}"${groups.length > 0 ? `; its consumer groups: ${groups.join(", ")}` : ": no method consumes it and no reader has stored progress"}`,
        { groups, nearest },
      );
    }
    return { offset, ...range };
  }

  async function setOffset(model: ServiceModel | undefined, topic: string, group: string, body: string): Promise<TopicAdminResponse> {
    let request: unknown;
    try {
      request = JSON.parse(body === "" ? "null" : body);
    } catch {
      return fail(400, `the body must be JSON, {"offset": n} or {"time": "<ISO 8601>"}, got ${JSON.stringify(body.slice(0, 80))}`);
    }
    if (typeof request !== "object" || request === null || Array.isArray(request))
      return fail(400, 'the body must be a JSON object: {"offset": n} or {"time": "<ISO 8601>"}');
    const { offset: rawOffset, time: rawTime, ...rest } = request as Record<string, unknown>;
    const unknown = Object.keys(rest);
    if (unknown.length > 0) return fail(400, `unknown field ${unknown.map((k) => `"${k}"`).join(", ")}; give "offset" or "time"`);
    if ((rawOffset === undefined) === (rawTime === undefined)) return fail(400, 'give "offset" or "time", not both and not neither');
    if (rawOffset !== undefined && (typeof rawOffset !== "number" || !Number.isSafeInteger(rawOffset) || rawOffset < 0))
      return fail(400, `"offset" must be a whole number of at least 0, got ${JSON.stringify(rawOffset)}`);
    let time: number | undefined;
    if (rawTime !== undefined) {
      time = typeof rawTime === "string" && /^\d{4}-\d{2}-\d{2}(T|$)/.test(rawTime) ? Date.parse(rawTime) : Number.NaN;
      if (Number.isNaN(time) || time < 0) return fail(400, `"time" must be an ISO 8601 time such as 2026-12-03T10:00:00Z, got ${JSON.stringify(rawTime)}`);
    }
    const found = await find(model, topic, group);
    if ("status" in found) return found;
    let offset: number;
    if (time !== undefined) offset = await broker.offsetAtTime(topic, time);
    else {
      offset = rawOffset as number;
      if (offset > found.lastOffset)
        return fail(400, `topic "${topic}" ends at offset ${found.lastOffset}; an offset past it would skip messages not yet published`, {
          lastOffset: found.lastOffset,
        });
      if (offset > 0 && offset < found.firstOffset - 1)
        return fail(
          410,
          `messages of topic "${topic}" up to offset ${found.firstOffset - 1} were removed by retention; the first retained offset is ${found.firstOffset} (give offset ${found.firstOffset - 1}, or 0 for the start)`,
          { firstOffset: found.firstOffset },
        );
    }
    // The previous offset is read once the group's batch in flight has stored its progress.
    const previousOffset = await deps.groups.reset(topic, group, async () => {
      const previous = await broker.loadGroupOffset(topic, group);
      await broker.saveGroupOffset(topic, group, offset);
      return previous;
    });
    return {
      status: 200,
      body: { topic, group, offset, previousOffset, firstOffset: found.firstOffset, lastOffset: found.lastOffset },
    };
  }

  return {
    async handle(method, segments, body, model) {
      const [, topic, groupsWord, group, last] = segments;
      if (topic === undefined || topic === "" || groupsWord !== "groups" || group === undefined || group === "") return undefined;
      if (segments.length === 4) {
        if (method !== "GET") return fail(405, `/v1/topics/{topic}/groups/{group} takes GET, not ${method}`);
        const found = await find(model, topic, group);
        return "status" in found ? found : { status: 200, body: { topic, group, ...found } };
      }
      if (segments.length === 5 && last === "offset") {
        if (method !== "POST") return fail(405, `/v1/topics/{topic}/groups/{group}/offset takes POST, not ${method}`);
        return setOffset(model, topic, group, body);
      }
      return undefined;
    },
  };
}
