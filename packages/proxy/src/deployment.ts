import type { CrdtReplicas } from "./cluster/types.js";
import type { EntityServiceModel, ServiceModel } from "./descriptors/service-model.js";
import { kindModule } from "./entities/registry.js";
import type { ActiveEntities } from "./entities/session/active-entities.js";
import type { EffectRunner, EntityRuntime } from "./entities/shared/types.js";
import { startEventLogSources } from "./eventing/event-log-source.js";
import type { Clock } from "./internal/clock.js";
import type { Logger } from "./observability/logger.js";
import type { Metrics } from "./observability/metrics.js";
import type { Deployment, Dispatcher } from "./router/types.js";
import type { Store } from "./store/types.js";
import type { UserFunctionClient } from "./user-function/client.js";

/** What a deployment is built from: the discovered model and the proxy's long-lived parts. */
export interface DeploymentOptions {
  readonly model: ServiceModel;
  readonly client: UserFunctionClient;
  /** The client Actions call through (default: `client`). */
  readonly actionClient?: UserFunctionClient;
  readonly store: Store;
  readonly logger: Logger;
  readonly clock: Clock;
  /** Default idle timeout (a service's own passivation strategy wins). */
  readonly passivationTimeoutMs: number;
  readonly relayTimeoutMs: number;
  /** Where activations and passivations are counted (default: nowhere). */
  readonly metrics?: Metrics;
  readonly activeEntities: ActiveEntities;
  readonly replicas: CrdtReplicas;
  readonly effects: EffectRunner;
  /** Where event-log consumers deliver events. */
  readonly dispatcher: Dispatcher;
  reportError(message: string): void;
  /** Subscribes to journal appends (the tag of each durable append); returns an unsubscribe function. */
  onAppended(listener: (tag: string) => void): () => void;
  /** Wraps the runtime of each keyed (stateful) service, e.g. to trace its commands. */
  readonly wrapEntityRuntime?: (runtime: EntityRuntime, service: EntityServiceModel) => EntityRuntime;
}

/**
 * Builds the deployment of one discovered model: a runtime for every service whose kind
 * this build runs (from the kind registry) and the model's event-log consumers, woken by
 * the store's journal-appended event.
 */
export function createDeployment(options: DeploymentOptions): Deployment {
  const { model, logger } = options;
  const runtimes = new Map<string, EntityRuntime>();
  for (const service of model.services.values()) {
    const module = kindModule(service.kind);
    if (module.createRuntime === undefined) continue;
    const runtime = module.createRuntime({
      service,
      client: module.keyed ? options.client : (options.actionClient ?? options.client),
      store: options.store,
      logger: logger.child({ service: service.name, entityType: service.kind }),
      clock: options.clock,
      passivationTimeoutMs: service.passivationTimeoutMs ?? options.passivationTimeoutMs,
      relayTimeoutMs: options.relayTimeoutMs,
      ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
      activeEntities: options.activeEntities,
      replicas: options.replicas,
      effects: options.effects,
      reportError: options.reportError,
    });
    runtimes.set(service.name, module.keyed && options.wrapEntityRuntime !== undefined ? options.wrapEntityRuntime(runtime, service) : runtime);
  }
  const sources = startEventLogSources({ model, store: options.store, dispatcher: options.dispatcher, logger: logger.child({ component: "eventing" }) });
  const unsubscribe = options.onAppended((tag) => sources.notify(tag));
  let closing: Promise<void> | undefined;
  return {
    model,
    runtimeFor: (serviceName) => runtimes.get(serviceName),
    async passivate(select) {
      await Promise.all([...runtimes.values()].map((runtime) => runtime.passivateWhere(select)));
    },
    close() {
      closing ??= (async () => {
        unsubscribe();
        await sources.close();
        await Promise.all([...runtimes.values()].map((runtime) => runtime.close()));
      })();
      return closing;
    },
  };
}
