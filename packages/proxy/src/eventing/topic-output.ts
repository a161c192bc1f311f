import { extractEntityId } from "../descriptors/entity-key.js";
import type { MethodModel } from "../descriptors/service-model.js";
import { kindModule } from "../entities/registry.js";
import { Code, SwitchboardError } from "../errors/index.js";
import type { Dispatcher, Reply } from "../router/types.js";
import { replyMessage } from "./cloud-event.js";
import { outTopicOf } from "./subscriptions.js";
import type { TopicBroker } from "./topic-broker.js";

/** Publishes the replies of `(cloudstate.eventing).out.topic` methods. */
export interface ReplyPublisher {
  /** The method's out topic, if it has one. */
  topicOf(method: MethodModel): string | undefined;
  /**
   * Publishes each reply with a payload as one message (see {@link replyMessage}) to the
   * method's out topic; nothing for a method without one. `request` (the call's input
   * bytes) gives the entity id for `subject`. Messages are queued in call order, so two
   * calls publish in the order they called this; resolves once durable, and rejects with
   * UNAVAILABLE when the publish failed.
   */
  publish(method: MethodModel, replies: readonly Reply[], request: Uint8Array | undefined): Promise<void>;
}

/** The {@link ReplyPublisher} over a broker. */
export function createReplyPublisher(broker: TopicBroker): ReplyPublisher {
  const topics = new WeakMap<MethodModel, string | null>();
  const topicOf = (method: MethodModel) => {
    let topic = topics.get(method);
    if (topic === undefined) {
      topic = outTopicOf(method) ?? null;
      topics.set(method, topic);
    }
    return topic ?? undefined;
  };
  const subjectOf = (method: MethodModel, request: Uint8Array | undefined): string | undefined => {
    if (request === undefined || !kindModule(method.service.kind).keyed) return undefined;
    return extractEntityId(request, method.keyFields, method.input.typeName).value;
  };
  return {
    topicOf,
    async publish(method, replies, request) {
      const topic = topicOf(method);
      if (topic === undefined) return;
      const subject = subjectOf(method, request);
      const messages = replies.flatMap((reply) =>
        reply.payload === undefined ? [] : [replyMessage(reply.payload, method.path, subject, reply.metadata ?? [])],
      );
      if (messages.length === 0) return;
      try {
        await broker.publish(topic, messages);
      } catch (error) {
        throw new SwitchboardError(`the reply of ${method.path} could not be published to topic "${topic}": ${(error as Error).message}`, Code.Unavailable, {
          cause: error,
        });
      }
    },
  };
}

/**
 * Wraps a dispatcher so that the replies of methods annotated with
 * `(cloudstate.eventing).out.topic` are published to that topic, whoever called them:
 * a client (gRPC, HTTP, gRPC-Web) or an event-log consumer. (Topic consumers call the
 * publisher themselves, so they can deliver the next message while a publish commits.)
 * The publish is durable before the reply is passed on, so a caller that saw the reply
 * (or a consumer that stored its offset) can rely on the message; if it fails, the call
 * fails with UNAVAILABLE.
 */
export function publishReplies(dispatcher: Dispatcher, publisher: ReplyPublisher): Dispatcher {
  return {
    unary(invocation, request) {
      // Most methods publish nothing: their calls pass straight through, with no promise of ours.
      if (publisher.topicOf(invocation.method) === undefined) return dispatcher.unary(invocation, request);
      return dispatcher.unary(invocation, request).then(async (reply) => {
        await publisher.publish(invocation.method, [reply], request);
        return reply;
      });
    },
    stream(invocation, requests) {
      const replies = dispatcher.stream(invocation, requests);
      if (publisher.topicOf(invocation.method) === undefined) return replies;
      return {
        async *[Symbol.asyncIterator]() {
          for await (const reply of replies) {
            await publisher.publish(invocation.method, [reply], undefined);
            yield reply;
          }
        },
      };
    },
    async deliver(method, payload, metadata, signal) {
      const replies = await dispatcher.deliver(method, payload, metadata, signal);
      await publisher.publish(method, replies, payload.value);
      return replies;
    },
  };
}
