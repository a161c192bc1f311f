import { getOption, hasOption } from "@bufbuild/protobuf";
import { eventing } from "@switchboard/protocol";
import type { MethodModel, ServiceModel } from "../descriptors/service-model.js";

/** The subscriber methods of one (consumer group, source) pair. */
export interface EventLogSubscription {
  /** Offsets are kept under this name: `<consumer group>|<persistence id>` (see each finder). */
  readonly consumer: string;
  /** The consumer group: `consumer_group`, else the service's full name. */
  readonly group: string;
  /** The tag (an event-sourced entity's persistence id), the topic, or the value entity's persistence id consumed. */
  readonly tag: string;
  /** Subscriber methods by input type name (`google.protobuf.Any` takes the rest). */
  readonly methods: ReadonlyMap<string, MethodModel>;
}

/** The subscriber methods of one (consumer group, topic) pair. */
export type TopicSubscription = EventLogSubscription;

const ANY = "google.protobuf.Any";

/**
 * Finds the methods annotated with `(cloudstate.eventing).in.event_log` and groups them
 * by (consumer group, event log). Two methods of one group with the same input type are
 * an error (use `consumer_group` to separate them), as in the reference proxy.
 */
export function eventLogSubscriptions(model: ServiceModel): { subscriptions: EventLogSubscription[]; error?: string } {
  return subscriptionsOf(model, "event log", (method) => cloudstateSource(method, "eventLog"));
}

/**
 * Finds the methods annotated with `(cloudstate.eventing).in.topic` and groups them by
 * (consumer group, topic), with the same rule for clashing input types.
 */
export function topicSubscriptions(model: ServiceModel): { subscriptions: TopicSubscription[]; error?: string } {
  return subscriptionsOf(model, "topic", (method) => cloudstateSource(method, "topic"));
}

/**
 * Finds the methods annotated with Switchboard's `(switchboard.eventing).in.value_entity`
 * and groups them by (consumer group, persistence id), with the same rule for clashing
 * input types. `tag` is the persistence id; offsets are kept under
 * `<consumer group>|value-entity:<persistence id>`.
 */
export function valueChangeSubscriptions(model: ServiceModel): { subscriptions: EventLogSubscription[]; error?: string } {
  return subscriptionsOf(model, "value entity", (method) => {
    const source = method.valueEntitySource;
    return source === undefined
      ? undefined
      : { tag: source.persistenceId, consumerGroup: source.consumerGroup, consumerTag: `value-entity:${source.persistenceId}` };
  });
}

/** What a method consumes: the source's name and its consumer group (empty: the default). */
interface MethodSource {
  readonly tag: string;
  readonly consumerGroup: string;
  /** How the consumer's offset name spells the source (default: `tag`). */
  readonly consumerTag?: string;
}

function cloudstateSource(method: MethodModel, kind: "eventLog" | "topic"): MethodSource | undefined {
  if (!hasOption(method.desc, eventing)) return undefined;
  const source = getOption(method.desc, eventing).in;
  if (source?.source.case !== kind) return undefined;
  return { tag: source.source.value, consumerGroup: source.consumerGroup };
}

function subscriptionsOf(
  model: ServiceModel,
  label: string,
  sourceOf: (method: MethodModel) => MethodSource | undefined,
): { subscriptions: EventLogSubscription[]; error?: string } {
  const groups = new Map<string, { group: string; tag: string; methods: Map<string, MethodModel> }>();
  for (const service of model.services.values()) {
    for (const method of service.methods.values()) {
      const source = sourceOf(method);
      if (source === undefined) continue;
      const { tag } = source;
      const group = source.consumerGroup || service.name;
      const consumer = `${group}|${source.consumerTag ?? tag}`;
      let entry = groups.get(consumer);
      if (entry === undefined) {
        entry = { group, tag, methods: new Map() };
        groups.set(consumer, entry);
      }
      const input = method.input.typeName;
      const clash = entry.methods.get(input);
      if (clash !== undefined) {
        return {
          subscriptions: [],
          error: `${clash.path} and ${method.path} both consume ${input} from ${label} "${tag}" in consumer group "${group}"; set consumer_group to separate them`,
        };
      }
      entry.methods.set(input, method);
    }
  }
  return { subscriptions: [...groups].map(([consumer, { group, tag, methods }]) => ({ consumer, group, tag, methods })) };
}

/** The topic a method's replies are published to (`(cloudstate.eventing).out.topic`), if any. */
export function outTopicOf(method: MethodModel): string | undefined {
  if (!hasOption(method.desc, eventing)) return undefined;
  const out = getOption(method.desc, eventing).out;
  return out?.destination.case === "topic" && out.destination.value !== "" ? out.destination.value : undefined;
}

/**
 * Picks the subscriber method for an event (docs/protocol.md#eventing): JSON and primitive
 * events go to the method taking `google.protobuf.Any`; others to the method whose input
 * type is the event's type, else to the `Any` method. Undefined when none fits.
 */
export function methodForEvent(subscription: EventLogSubscription, typeUrl: string): MethodModel | undefined {
  if (typeUrl.startsWith("p.cloudstate.io/") || typeUrl.startsWith("json.cloudstate.io/")) return subscription.methods.get(ANY);
  const typeName = typeUrl.slice(typeUrl.lastIndexOf("/") + 1);
  return subscription.methods.get(typeName) ?? subscription.methods.get(ANY);
}
