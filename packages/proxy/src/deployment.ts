import type { ConsumerLeases } from "./cluster/types.js";
import type { EntityServiceModel, ServiceModel } from "./descriptors/service-model.js";
import { kindModule } from "./entities/registry.js";
import type { EntityRuntime, EntityRuntimeContext } from "./entities/shared/types.js";
import type { EventingConfig } from "./config/eventing.js";
import { startEventLogSources } from "./eventing/event-log-source.js";
import type { ConsumerGroups } from "./eventing/consumer-groups.js";
import type { TopicBroker } from "./eventing/topic-broker.js";
import type { ReplyPublisher } from "./eventing/topic-output.js";
import { startTopicSources } from "./eventing/topic-source.js";
import { startValueChangeSources } from "./eventing/value-change-source.js";
import type { Deployment, Dispatcher } from "./router/types.js";
import type { UserFunctionClient } from "./user-function/client.js";

/** What a deployment is built from: the discovered model and the proxy's long-lived parts. */
export interface DeploymentOptions extends Omit<EntityRuntimeContext, "service"> {
  readonly model: ServiceModel;
  /** The client Actions call through (default: `client`). */
  readonly actionClient?: UserFunctionClient;
  /** Where event-log and topic consumers deliver events. */
  readonly dispatcher: Dispatcher;
  /** What the model's topic consumers need (none: topics are not consumed). */
  readonly topics?: {
    readonly broker: TopicBroker;
    /** Publishes the replies of out.topic methods. */
    readonly publisher: ReplyPublisher;
    /** Where messages are delivered: one that does not publish replies itself. */
    readonly dispatcher: Dispatcher;
    /** Retries and dead-lettering. */
    readonly eventing: EventingConfig;
    /** Coordinates the consumers with replays of their groups. */
    readonly groups?: ConsumerGroups;
  };
  /** Subscribes to journal appends (the tag of each durable append); returns an unsubscribe function. */
  onAppended(listener: (tag: string) => void): () => void;
  /** The deployment this one replaces: runtimes of unchanged services are taken over from it. */
  readonly previous?: Deployment;
  /** Wraps the runtime of each keyed (stateful) service, e.g. to trace its commands. */
  readonly wrapEntityRuntime?: (runtime: EntityRuntime, service: EntityServiceModel) => EntityRuntime;
  /** In a cluster: the leases under which event-log consumers run on one node each. */
  readonly consumerLeases?: ConsumerLeases;
}

/**
 * Builds the deployment of one discovered model: a runtime for every service whose kind
 * this build runs (from the kind registry; taken over from the previous deployment when
 * the service did not change, so a re-discovery passivates nothing mid-command) and the
 * model's event-log consumers, woken by the store's journal-appended event, and its
 * topic consumers (when the proxy has a broker).
 */
export function createDeployment(options: DeploymentOptions): Deployment {
  const { model, logger } = options;
  // What every runtime shares is the options minus what only the deployment uses, so a field
  // added to the runtime context reaches the runtimes without being copied here by name.
  const {
    model: _model,
    actionClient: _actionClient,
    dispatcher: _dispatcher,
    topics: _topics,
    onAppended: _onAppended,
    previous: _previous,
    wrapEntityRuntime: _wrap,
    consumerLeases: _consumerLeases,
    ...environment
  } = options;
  // Before any runtime writes or consumer starts: the value entities whose changes this model consumes.
  options.recordedChanges?.set([...model.services.values()].filter((s) => s.recordsChanges === true).map((s) => s.persistenceId));
  const runtimes = new Map<string, EntityRuntime>();
  for (const service of model.services.values()) {
    const module = kindModule(service.kind);
    if (module.createRuntime === undefined) continue;
    const carried = options.previous?.handOver(service);
    if (carried !== undefined) {
      runtimes.set(service.name, carried);
      continue;
    }
    const runtime = module.createRuntime({
      ...environment,
      service,
      client: module.keyed ? options.client : (options.actionClient ?? options.client),
      logger: logger.child({ service: service.name, entityType: service.kind }),
      passivationTimeoutMs: service.passivationTimeoutMs ?? options.passivationTimeoutMs,
    });
    runtimes.set(service.name, module.keyed && options.wrapEntityRuntime !== undefined ? options.wrapEntityRuntime(runtime, service) : runtime);
  }
  const sources = startEventLogSources({
    model,
    store: options.store,
    dispatcher: options.dispatcher,
    logger: logger.child({ component: "eventing" }),
    ...(options.consumerLeases === undefined ? {} : { leases: options.consumerLeases }),
  });
  const unsubscribe = options.onAppended((tag) => sources.notify(tag));
  const changeSources = startValueChangeSources({
    model,
    store: options.store,
    dispatcher: options.dispatcher,
    logger: logger.child({ component: "eventing" }),
    ...(options.consumerLeases === undefined ? {} : { leases: options.consumerLeases }),
  });
  const unsubscribeChanges = options.store.onValueChanged((persistenceId) => changeSources.notify(persistenceId));
  const topics = options.topics;
  const topicSources =
    topics === undefined
      ? undefined
      : startTopicSources({
          model,
          broker: topics.broker,
          dispatcher: topics.dispatcher,
          publisher: topics.publisher,
          logger: logger.child({ component: "topics" }),
          maxAttempts: topics.eventing.topicMaxAttempts,
          retryBackoffMs: topics.eventing.topicRetryBackoffMs,
          ...(options.consumerLeases === undefined ? {} : { leases: options.consumerLeases }),
          ...(topics.groups === undefined ? {} : { groups: topics.groups }),
          ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
        });
  let closing: Promise<void> | undefined;
  return {
    model,
    runtimeFor: (serviceName) => runtimes.get(serviceName),
    handOver(next) {
      const runtime = runtimes.get(next.name);
      const mine = model.services.get(next.name);
      if (runtime === undefined || mine === undefined || closing !== undefined || !sameService(mine, next)) return undefined;
      runtimes.delete(next.name);
      return runtime;
    },
    async passivate(select) {
      await Promise.all([...runtimes.values()].map((runtime) => runtime.passivateWhere(select)));
    },
    close() {
      closing ??= (async () => {
        unsubscribe();
        unsubscribeChanges();
        await Promise.all([sources.close(), changeSources.close(), topicSources?.close()]);
        await Promise.all([...runtimes.values()].map((runtime) => runtime.close()));
      })();
      return closing;
    },
  };
}

/** Whether two discoveries declared the same service, as its runtime sees it. */
function sameService(a: EntityServiceModel, b: EntityServiceModel): boolean {
  if (a.kind !== b.kind || a.persistenceId !== b.persistenceId || a.passivationTimeoutMs !== b.passivationTimeoutMs) return false;
  // Another reported protocol version may mean another wire (CRDTs before 0.2).
  if (a.protocolVersion?.major !== b.protocolVersion?.major || a.protocolVersion?.minor !== b.protocolVersion?.minor) return false;
  if (a.methods.size !== b.methods.size) return false;
  for (const [name, method] of a.methods) {
    const other = b.methods.get(name);
    if (
      other === undefined ||
      other.kind !== method.kind ||
      other.input.typeName !== method.input.typeName ||
      other.output.typeName !== method.output.typeName
    ) {
      return false;
    }
  }
  return true;
}
