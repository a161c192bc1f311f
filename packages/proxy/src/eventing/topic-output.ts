import { extractEntityId } from "../descriptors/entity-key.js";
import type { MethodModel } from "../descriptors/service-model.js";
import { kindModule } from "../entities/registry.js";
import { Code, SwitchboardError } from "../errors/index.js";
import type { Dispatcher, Reply } from "../router/types.js";
import { replyMessage } from "./cloud-event.js";
import { outTopicOf } from "./subscriptions.js";
import type { TopicBroker } from "./topic-broker.js";

/**
 * Wraps a dispatcher so that the replies of methods annotated with
 * `(cloudstate.eventing).out.topic` are published to that topic, whoever called them:
 * a client (gRPC, HTTP, gRPC-Web), a topic consumer or an event-log consumer. Each reply
 * with a payload becomes one message (see {@link replyMessage}); a reply without one
 * publishes nothing. The publish is durable before the reply is passed on, so a caller
 * that saw the reply (or a consumer that stored its offset) can rely on the message; if
 * the publish fails the call fails with UNAVAILABLE.
 */
export function publishReplies(dispatcher: Dispatcher, broker: TopicBroker): Dispatcher {
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
  async function publish(method: MethodModel, topic: string, replies: readonly Reply[], request: Uint8Array | undefined): Promise<void> {
    const subject = subjectOf(method, request);
    const messages = replies.flatMap((reply) => (reply.payload === undefined ? [] : [replyMessage(reply.payload, method.path, subject, reply.metadata ?? [])]));
    if (messages.length === 0) return;
    try {
      await broker.publish(topic, messages);
    } catch (error) {
      throw new SwitchboardError(`the reply of ${method.path} could not be published to topic "${topic}": ${(error as Error).message}`, Code.Unavailable, {
        cause: error,
      });
    }
  }
  return {
    async unary(invocation, request) {
      const reply = await dispatcher.unary(invocation, request);
      const topic = topicOf(invocation.method);
      if (topic !== undefined) await publish(invocation.method, topic, [reply], request);
      return reply;
    },
    stream(invocation, requests) {
      const topic = topicOf(invocation.method);
      const replies = dispatcher.stream(invocation, requests);
      if (topic === undefined) return replies;
      return {
        async *[Symbol.asyncIterator]() {
          for await (const reply of replies) {
            await publish(invocation.method, topic, [reply], undefined);
            yield reply;
          }
        },
      };
    },
    async deliver(method, payload, metadata, signal) {
      const replies = await dispatcher.deliver(method, payload, metadata, signal);
      const topic = topicOf(method);
      if (topic !== undefined) await publish(method, topic, replies, payload.value);
      return replies;
    },
  };
}
