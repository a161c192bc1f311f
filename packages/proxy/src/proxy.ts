import { parseBrokerUrl } from "./config/eventing.js";
import { DEFAULTS, type ProxyConfig } from "./config/index.js";
import { LOCAL_NODE, singleNode } from "./cluster/single-node.js";
import type { ClusterFactory, ClusterNode, EntityHost, Placement } from "./cluster/types.js";
import { createDeployment } from "./deployment.js";
import { createConsumerGroups } from "./eventing/consumer-groups.js";
import type { NatsBroker } from "./eventing/nats/nats-broker.js";
import { createTopicBroker } from "./eventing/topic-broker.js";
import { startTopicRetention } from "./eventing/topic-retention.js";
import { createReplyPublisher, publishReplies } from "./eventing/topic-output.js";
import { createTopicsHandler } from "./ingress/http/topics-handler.js";
import type { ServiceModel } from "./descriptors/service-model.js";
import { type Discovered, discover, FatalDiscoveryError, reportError } from "./discovery/discovery.js";
import { createActiveEntities } from "./entities/session/active-entities.js";
import { createRecordedChanges } from "./entities/value/recorded-changes.js";
import { Code, SwitchboardError } from "./errors/index.js";
import { type Admin, startAdmin } from "./admin/start-admin.js";
import { createTopicAdmin } from "./admin/topic-admin.js";
import { createFrontDoor } from "./ingress/front-door.js";
import { frontPortSetup } from "./ingress/front-port-setup.js";
import { createFrontServer, type FrontServer } from "./ingress/server.js";
import { createLogger, type Logger } from "./observability/logger.js";
import { createEntityTracing } from "./observability/entity-tracing.js";
import { createHeapRelease, watchActiveEntities, watchDispatcher } from "./observability/heap-release.js";
import { instrumentDispatcher } from "./observability/instrumented-dispatcher.js";
import { type Metrics, NO_METRICS } from "./observability/metrics.js";
import { createPrometheusMetrics, type PrometheusMetrics } from "./observability/prometheus-metrics.js";
import { traceUserFunctionClient } from "./observability/traced-client.js";
import { NO_TRACER, type Tracer, tracingRequested } from "./observability/tracer.js";
import { openStore } from "./open-store.js";
import { openStoreInspector } from "./open-store-inspector.js";
import { type Clock, systemClock } from "./internal/clock.js";
import { createEntityHost } from "./router/entity-host.js";
import { createRouter } from "./router/router.js";
import type { Deployment } from "./router/types.js";
import type { Store } from "./store/types.js";
import type { UserFunctionClient } from "./user-function/client.js";
import { createBuiltinUserFunctionClient } from "./user-function/builtin-client.js";
import { createHttp2UserFunctionClient } from "./user-function/http2-client.js";
import { readUserFunctionTls } from "./user-function/tls-material.js";
import { checkUserFunctionSocket } from "./user-function/unix-socket.js";
import { PROXY_VERSION } from "./version.js";

/** Options of {@link createProxy}. */
export interface ProxyOptions {
  readonly config: ProxyConfig;
  readonly logger?: Logger;
  /** Use this store instead of opening the configured one (tests, embedding). */
  readonly store?: Store;
  /** The cluster this proxy joins (default: none, a single node). */
  readonly cluster?: ClusterFactory;
  /** Timers and time for entities (default: the system clock). */
  readonly clock?: Clock;
  /** Called once, when discovery has succeeded and the services are served. */
  readonly onReady?: (proxy: SwitchboardProxy) => void;
  /** Called when discovery fails for good (the CLI exits 1). */
  readonly onFatal?: (error: FatalDiscoveryError) => void;
  /** The metrics the admin port serves (default: a registry of this proxy's own). */
  readonly metrics?: PrometheusMetrics;
  /** The tracer (default: OpenTelemetry when an OTLP endpoint is set in the environment, else none). */
  readonly tracer?: Tracer;
}

/** A running proxy. */
export interface SwitchboardProxy {
  /** Address of the bound front port. */
  readonly host: string;
  readonly port: number;
  /** Whether discovery has succeeded. */
  ready(): boolean;
  /** The current service model (undefined before discovery). */
  model(): ServiceModel | undefined;
  /** Address of the admin port (undefined when it is off or could not be bound). */
  readonly admin: { readonly host: string; readonly port: number } | undefined;
  /** This node's entities, as a cluster drives them. */
  readonly entities: EntityHost;
  /** Drains and stops: front port, entities, user-function channel, store. */
  close(): Promise<void>;
}

/**
 * Builds and starts a proxy: opens the store, binds the front port (answering
 * `/alive` at once and `/ready` with 503 until discovery succeeds), then discovers the
 * user function in the background and serves its services. Resolves once the port is bound.
 */
export async function createProxy(options: ProxyOptions): Promise<SwitchboardProxy> {
  const { config } = options;
  const logger = options.logger ?? createLogger({ level: config.logLevel, format: config.logFormat });
  const userFunctionTls = readUserFunctionTls(config.userFunctionTls);
  const socketProblem = config.userFunctionSocket === undefined ? undefined : checkUserFunctionSocket(config.userFunctionSocket);
  if (socketProblem !== undefined) throw new SwitchboardError(socketProblem, Code.FailedPrecondition);
  // With the admin port off nothing can read metrics, so none are recorded (bench/: "observability" measures what they cost).
  const prometheus = options.metrics ?? (config.adminPort === 0 ? undefined : createPrometheusMetrics());
  const metrics: Metrics = prometheus ?? NO_METRICS;
  const store = options.store ?? (await openStore(config.store, logger, metrics));
  const createClient = config.userFunctionHttp2 === "node" ? createHttp2UserFunctionClient : createBuiltinUserFunctionClient;
  const client: UserFunctionClient = createClient({
    host: config.userFunctionHost,
    port: config.userFunctionPort,
    socket: config.userFunctionSocket,
    tls: userFunctionTls,
    // Discovery answers can be large whatever the client limit: never accept less than the Cloudstate default from the user function.
    maxMessageSize: Math.max(config.maxMessageSize, DEFAULTS.maxMessageSize),
  });
  const report = (message: string) => void reportError(client, message, logger);
  const tracer =
    options.tracer ??
    (tracingRequested(process.env) ? (await import("./observability/otel-tracer.js")).createOtelTracer(logger.child({ component: "tracing" })) : NO_TRACER);
  const entityTracing = tracer.enabled ? createEntityTracing(tracer) : undefined;
  let connected = false;
  client.onChannelEvent((event) => {
    connected = event === "ready";
    metrics.userFunctionUp(connected);
  });

  const clock = options.clock ?? systemClock;
  // After a wave of passivations, one full GC once quiet gives the heap back (an idle Node process never collects on its own).
  const heapRelease = config.heapRelease ? createHeapRelease({ clock, logger: logger.child({ component: "heap" }), metrics }) : undefined;
  const activeEntities =
    heapRelease === undefined
      ? createActiveEntities(config.maxActiveEntities)
      : watchActiveEntities(createActiveEntities(config.maxActiveEntities), heapRelease);
  const recordedChanges = createRecordedChanges();

  let deployment: Deployment | undefined;
  const deployments = { current: () => deployment };
  let cluster: ClusterNode | undefined;
  const placement: Placement = { locate: (service, entityId, locate) => (cluster ?? LOCAL_NODE).placement.locate(service, entityId, locate) };
  const host = createEntityHost({ deployments, placement });
  const factory: ClusterFactory =
    options.cluster ?? (config.cluster === undefined ? singleNode : (await import("./cluster/start-cluster.js")).clusterFactory(config.cluster, config.bind));
  let joined: ClusterNode;
  try {
    joined = await factory(host, { store, logger });
  } catch (error) {
    await store.close();
    throw error;
  }
  cluster = joined;
  const models = { current: () => deployment?.model };
  const router = createRouter({ deployments, placement, forwarder: joined.forwarder, reportError: report, logger, tracer });
  // The store entities write through: a cluster may adapt it (CRDT states are merged into what other replicas stored).
  const entityStore = joined.entityStore?.(store) ?? store;
  // The topic broker: NATS JetStream with --eventing, else the embedded broker when the store keeps topics. Replies of out.topic methods are published through it.
  let nats: NatsBroker | undefined;
  if (config.eventing.brokerUrl !== undefined) {
    try {
      const broker = parseBrokerUrl(config.eventing.brokerUrl);
      if (typeof broker === "string") throw new SwitchboardError(broker, Code.InvalidArgument);
      nats = await (await import("./eventing/nats/nats-broker.js")).connectNatsBroker({
        url: broker.url,
        logger,
        // The retention flags become the streams' max_age and max_bytes.
        retention: {
          ...(config.eventing.topicRetentionMs === undefined ? {} : { maxAgeMs: config.eventing.topicRetentionMs }),
          ...(config.eventing.topicRetentionBytes === undefined ? {} : { maxBytes: config.eventing.topicRetentionBytes }),
        },
      });
    } catch (error) {
      client.close();
      await joined.close();
      await store.close();
      throw error;
    }
  }
  const broker = nats ?? (store.topics === undefined ? undefined : createTopicBroker(store.topics));
  const publisher = broker === undefined ? undefined : createReplyPublisher(broker);
  // Replays through the admin port reach this proxy's running topic consumers through it.
  const consumerGroups = createConsumerGroups();
  const { topicRetentionMs, topicRetentionBytes, topicRetentionCheckMs } = config.eventing;
  // Retention is the embedded broker's; a NATS stream keeps its own limits.
  const retention =
    store.topics === undefined || nats !== undefined
      ? undefined
      : startTopicRetention({
          store: store.topics,
          ...(topicRetentionMs === undefined ? {} : { retentionMs: topicRetentionMs }),
          ...(topicRetentionBytes === undefined ? {} : { retentionBytes: topicRetentionBytes }),
          intervalMs: topicRetentionCheckMs,
          logger: logger.child({ component: "topics" }),
          metrics,
        });
  const published = publisher === undefined ? router : publishReplies(router, publisher);
  // Calls to Actions touch no entity: they keep a pending heap release waiting too.
  const dispatcher = heapRelease === undefined ? published : watchDispatcher(published, heapRelease);
  const stop = new AbortController();
  const dispatcherFor = (protocol: "grpc" | "grpc-web" | "http" | "eventing") => instrumentDispatcher(dispatcher, protocol, metrics, tracer);
  const eventingDispatcher = dispatcherFor("eventing");
  // Ready means callable: discovered, and the user function reachable right now (a readiness probe then stops sending traffic that could only get 503).
  // A store that has failed for good (SQLite's writer thread died) is not ready either: every call would fail.
  // With NATS as the broker, a lost connection to it too (topics, out.topic replies and their consumers all need it).
  const readiness = {
    ready: () => deployment !== undefined && connected && (joined.ready?.() ?? true) && store.failed?.() === undefined && (nats?.connected() ?? true),
  };

  let front: FrontServer;
  try {
    const setup = frontPortSetup(config);
    const handlers = createFrontDoor({
      models,
      dispatcher,
      dispatcherFor,
      readiness,
      maxMessageSize: config.maxMessageSize,
      corsOrigins: config.corsOrigins,
      logger,
      ...(broker === undefined
        ? {}
        : {
            topics: createTopicsHandler({
              models,
              broker,
              maxMessageSize: config.maxMessageSize,
              signal: stop.signal,
              logger: logger.child({ component: "topics" }),
            }),
          }),
      ...setup.door,
    });
    front = await createFrontServer({ host: config.bind, port: config.httpPort, handlers, logger, ...setup.server });
  } catch (error) {
    client.close();
    await nats?.close();
    await joined.close();
    await retention?.close();
    await store.close();
    if (error instanceof SwitchboardError) throw error;
    throw new SwitchboardError(`cannot bind the front port ${config.bind}:${config.httpPort}: ${(error as Error).message}`, Code.Unavailable, { cause: error });
  }
  logger.info("front port bound", { address: `${front.host}:${front.port}`, store: store.description });
  const startedAt = Date.now();
  const admin: Admin | undefined =
    prometheus === undefined
      ? undefined
      : await startAdmin({
          config,
          logger: logger.child({ component: "admin" }),
          metrics: prometheus,
          model: () => deployment?.model,
          store,
          openInspector: () => openStoreInspector(config.store, store),
          ...(broker === undefined ? {} : { topics: createTopicAdmin({ broker, groups: consumerGroups }) }),
          passivate: async (service, entityId) => (await deployment?.runtimeFor(service.name)?.passivate(entityId)) ?? false,
          status: () => ({
            version: PROXY_VERSION,
            ready: deployment !== undefined,
            userFunction: { target: client.target, connected },
            store: store.description,
            startedAt,
          }),
        });

  let channelLost = false;
  let rediscovering = false;

  const swap = (next: Discovered) => {
    const old = deployment;
    deployment = createDeployment({
      model: next.model,
      client,
      actionClient: traceUserFunctionClient(client, tracer),
      store: entityTracing?.store(entityStore) ?? entityStore,
      logger,
      clock,
      passivationTimeoutMs: config.passivationTimeoutMs,
      relayTimeoutMs: config.relayTimeoutMs,
      metrics,
      activeEntities,
      recordedChanges,
      replicas: joined.replicas,
      ...(joined.consumers === undefined ? {} : { consumerLeases: joined.consumers }),
      effects: router,
      dispatcher: eventingDispatcher,
      ...(broker === undefined || publisher === undefined
        ? {}
        : {
            topics: {
              broker,
              publisher,
              dispatcher: instrumentDispatcher(router, "eventing", metrics, tracer),
              eventing: config.eventing,
              groups: consumerGroups,
            },
          }),
      reportError: report,
      stopping: stop.signal,
      // Journal appends wake the event-log consumers of their tag at once.
      onAppended: (listener) => store.onAppended(listener),
      ...(entityTracing === undefined ? {} : { wrapEntityRuntime: entityTracing.runtime }),
      ...(old === undefined ? {} : { previous: old }),
    });
    void old?.close();
  };
  const runDiscovery = async (initial: boolean) => {
    try {
      const next = await discover({
        client,
        logger,
        proxyVersion: PROXY_VERSION,
        protocolCheck: config.protocolCheck,
        signal: stop.signal,
      });
      swap(next);
      if (initial) options.onReady?.(proxy);
    } catch (error) {
      if (stop.signal.aborted) return;
      if (error instanceof FatalDiscoveryError) {
        logger.error("discovery failed", { reason: error.rawMessage });
        options.onFatal?.(error);
      } else {
        logger.error("discovery failed unexpectedly", { error: (error as Error).message });
      }
    }
  };
  // Discover once per connection to the user function: again only after the channel was lost and came back.
  client.onChannelEvent((event, loss) => {
    if (event === "lost" && deployment !== undefined) {
      channelLost = true;
      if (stop.signal.aborted) return;
      if (loss?.graceful) logger.info("the user function closed its connection (stopping?)", { target: client.target });
      else logger.warn("lost the connection to the user function", { target: client.target, reason: loss?.reason });
    } else if (event === "ready" && channelLost && !rediscovering) {
      channelLost = false;
      rediscovering = true;
      logger.info("reconnected to the user function; discovering again");
      void runDiscovery(false).finally(() => {
        rediscovering = false;
      });
    }
  });
  void runDiscovery(true);

  let closing: Promise<void> | undefined;
  const proxy: SwitchboardProxy = {
    host: front.host,
    port: front.port,
    ready: () => readiness.ready(),
    model: () => deployment?.model,
    entities: host,
    admin: admin === undefined ? undefined : { host: admin.host, port: admin.port },
    close() {
      closing ??= (async () => {
        stop.abort();
        heapRelease?.close();
        // In a cluster, hand the shards over first: calls still arriving are forwarded to the new owners.
        await joined.drain?.();
        await front.close(5000);
        await admin?.close();
        await deployment?.close();
        await nats?.close();
        await joined.close();
        client.close();
        await tracer.shutdown();
        await retention?.close();
        await store.close();
      })();
      return closing;
    },
  };
  return proxy;
}
