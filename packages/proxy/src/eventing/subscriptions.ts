import { getOption, hasOption } from "@bufbuild/protobuf";
import { eventing } from "@switchboard/protocol";
import type { MethodModel, ServiceModel } from "../descriptors/service-model.js";

/** The subscriber methods of one (consumer group, source) pair. */
export interface EventLogSubscription {
  /** Offsets are kept under this name: `<consumer group>|<persistence id>`. */
  readonly consumer: string;
  /** The consumer group: `consumer_group`, else the service's full name. */
  readonly group: string;
  /** The tag (an event-sourced entity's persistence id) or the topic whose messages are consumed. */
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
  return subscriptionsOf(model, "eventLog", "event log");
}

/**
 * Finds the methods annotated with `(cloudstate.eventing).in.topic` and groups them by
 * (consumer group, topic), with the same rule for clashing input types.
 */
export function topicSubscriptions(model: ServiceModel): { subscriptions: TopicSubscription[]; error?: string } {
  return subscriptionsOf(model, "topic", "topic");
}

function subscriptionsOf(model: ServiceModel, kind: "eventLog" | "topic", label: string): { subscriptions: EventLogSubscription[]; error?: string } {
  const groups = new Map<string, { group: string; tag: string; methods: Map<string, MethodModel> }>();
  for (const service of model.services.values()) {
    for (const method of service.methods.values()) {
      if (!hasOption(method.desc, eventing)) continue;
      const source = getOption(method.desc, eventing).in;
      if (source?.source.case !== kind) continue;
      const tag = source.source.value;
      const group = source.consumerGroup || service.name;
      const consumer = `${group}|${tag}`;
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
