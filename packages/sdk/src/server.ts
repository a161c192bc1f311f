/**
 * The user function's gRPC server: `EntityDiscovery`, `ActionProtocol`, `ValueEntity`,
 * `EventSourced` and `Crdt`, served with @grpc/grpc-js over plaintext HTTP/2 to the proxy.
 *
 * @module
 */
import { lstatSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { create } from "@bufbuild/protobuf";
import { EmptySchema } from "@bufbuild/protobuf/wkt";
import type {
  handleBidiStreamingCall,
  handleClientStreamingCall,
  handleServerStreamingCall,
  handleUnaryCall,
  UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { logVerbosity, Server, ServerCredentials, setLogVerbosity, status } from "@grpc/grpc-js";
import type { Empty } from "@bufbuild/protobuf/wkt";
import type {
  ActionCommand,
  ActionResponse,
  CrdtStreamIn,
  CrdtStreamOut,
  EntitySpec,
  EventSourcedStreamIn,
  EventSourcedStreamOut,
  ProxyInfo,
  UserFunctionError,
  ValueEntityStreamIn,
  ValueEntityStreamOut,
} from "@switchboard/protocol";
import { ActionProtocol, Crdt, EntityDiscovery, EventSourced, PROTOCOL_MAJOR_VERSION, PROTOCOL_MINOR_VERSION, ValueEntity } from "@switchboard/protocol";
import { createEntitySpec } from "./discovery.js";
import type { ActionDefinition } from "./entities/action/definition.js";
import { createActionRuntime } from "./entities/action/runtime.js";
import type { CrdtEntityDefinition } from "./entities/crdt/definition.js";
import { createCrdtRuntime } from "./entities/crdt/runtime.js";
import type { EntityDefinition } from "./entities/entity-definition.js";
import type { EventSourcedEntityDefinition } from "./entities/event-sourced/definition.js";
import { createEventSourcedRuntime } from "./entities/event-sourced/runtime.js";
import type { ValueEntityDefinition } from "./entities/value/definition.js";
import { createValueEntityRuntime } from "./entities/value/runtime.js";
import type { Logger } from "./logger.js";
import { createStderrLogger } from "./logger.js";
import { createGrpcServiceDefinition } from "./transport/grpc-service-definition.js";
import { cancellationSignal, readMessages, writeMessages } from "./transport/grpc-streams.js";

/** Options of {@link createServer}. */
export interface ServerOptions {
  /** The entities to serve, made with `action()`, `valueEntity()`, `eventSourcedEntity()` and `crdtEntity()`. At least one. */
  entities: readonly EntityDefinition[];
  /** Name of this user function, sent (for information) in `ServiceInfo.service_name`. */
  serviceName?: string;
  /** Version of this user function, sent in `ServiceInfo.service_version`. */
  serviceVersion?: string;
  /** Where crashes and protocol errors are reported; defaults to stderr. */
  logger?: Logger;
  /** Largest message accepted from the proxy, in bytes; defaults to 12 MiB, as the proxy's. */
  maxMessageBytes?: number;
  /**
   * How long `close()` waits for open calls (entity streams stay open until the proxy
   * passivates them) before cutting them, in milliseconds; defaults to 2000.
   */
  shutdownTimeoutMs?: number;
}

/** Options of {@link UserFunctionServer.listen}. */
export interface ListenOptions {
  /** Address to bind; defaults to `127.0.0.1`. */
  host?: string;
  /** Port to bind; defaults to 8080. `0` picks a free port (read it from the result). */
  port?: number;
  /**
   * Path of a Unix domain socket to listen on instead of `host`:`port`, for a proxy on the
   * same machine started with `--user-function-socket <path>` (cheaper than TCP loopback).
   * A socket file left at the path by a server that stopped is removed first (anything else
   * at the path, or a socket something still listens on, is an error); `close()` removes it.
   */
  socket?: string;
  /**
   * Serve TLS instead of plaintext HTTP/2, for a proxy on another host (it connects with
   * `--user-function-tls`). PEM contents; with `clientCa` the proxy must present a
   * client certificate signed by it (`--user-function-tls-cert`).
   */
  tls?: { cert: string | Buffer; key: string | Buffer; clientCa?: string | Buffer | undefined };
}

/** A listening server. */
export interface RunningServer {
  /** The host it was bound to (`unix:<path>` on a Unix socket). */
  readonly host: string;
  /** The port it listens on (the picked one when `0` was asked for; 0 on a Unix socket). */
  readonly port: number;
  /** The Unix socket it listens on, when `listen({ socket })` asked for one. */
  readonly socket?: string;
  /** Stops accepting calls, waits for open ones up to the shutdown timeout, then cuts them. */
  close(): Promise<void>;
}

/** A user function server, not yet listening. */
export interface UserFunctionServer {
  /**
   * Binds the gRPC server and starts serving the proxy.
   *
   * @example
   * ```ts
   * const running = await createServer({ entities: [counter] }).listen({ host: "127.0.0.1", port: 0 });
   * console.log(`listening on ${running.port}`);
   * await running.close();
   * ```
   */
  listen(options?: ListenOptions): Promise<RunningServer>;
}

const DEFAULT_HOST = "127.0.0.1";

/** The grpc-js log verbosity that GRPC_VERBOSITY asks for (grpc-js's own default: ERROR). */
function configuredGrpcVerbosity(): logVerbosity {
  const wanted = (process.env.GRPC_VERBOSITY ?? "").toUpperCase();
  if (wanted === "DEBUG") return logVerbosity.DEBUG;
  if (wanted === "INFO") return logVerbosity.INFO;
  if (wanted === "NONE") return logVerbosity.NONE;
  return logVerbosity.ERROR;
}
const DEFAULT_PORT = 8080;
const DEFAULT_MAX_MESSAGE_BYTES = 12 * 1024 * 1024;
const DEFAULT_SHUTDOWN_TIMEOUT_MS = 2000;

/**
 * Creates the gRPC server of a Cloudstate user function serving `entities`: it answers the
 * proxy's discovery (`cloudstate.EntityDiscovery`) and runs the entities' commands
 * (`cloudstate.action.ActionProtocol`, `cloudstate.valueentity.ValueEntity`,
 * `cloudstate.eventsourced.EventSourced`, `cloudstate.crdt.Crdt`).
 *
 * It checks the definitions and builds the discovery answer at once, so a bad definition fails
 * here rather than when the proxy connects.
 *
 * @example
 * ```ts
 * import { createServer } from "@switchboard/sdk";
 * import { counter, counterFanout } from "./counter.js";
 *
 * const server = createServer({ entities: [counter, counterFanout], serviceName: "counter" });
 * const running = await server.listen({ host: "0.0.0.0", port: 8080 });
 * process.on("SIGTERM", () => void running.close());
 * ```
 */
export function createServer(options: ServerOptions): UserFunctionServer {
  const { entities } = options;
  if (entities.length === 0) {
    throw new Error("createServer(): entities is empty; the proxy rejects a user function without entities");
  }
  const seen = new Set<string>();
  for (const entity of entities) {
    if (seen.has(entity.service.typeName)) {
      throw new Error(`createServer(): ${entity.service.typeName} is defined twice`);
    }
    seen.add(entity.service.typeName);
  }
  const logger = options.logger ?? createStderrLogger();
  const spec = createEntitySpec(entities, {
    ...(options.serviceName === undefined ? {} : { serviceName: options.serviceName }),
    ...(options.serviceVersion === undefined ? {} : { serviceVersion: options.serviceVersion }),
  });
  const actions = createActionRuntime(
    entities.filter((e): e is ActionDefinition => e.kind === "action"),
    logger,
  );
  const valueEntities = createValueEntityRuntime(
    entities.filter((e): e is ValueEntityDefinition => e.kind === "value-entity"),
    logger,
  );
  const eventSourcedEntities = createEventSourcedRuntime(
    entities.filter((e): e is EventSourcedEntityDefinition => e.kind === "event-sourced"),
    logger,
  );
  const crdtEntities = createCrdtRuntime(
    entities.filter((e): e is CrdtEntityDefinition => e.kind === "crdt"),
    logger,
  );
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const shutdownTimeoutMs = options.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS;
  let listening = false;

  return {
    async listen(listenOptions = {}) {
      if (listening) throw new Error("listen() was already called on this server");
      listening = true;
      const socket = listenOptions.socket;
      if (socket !== undefined) {
        if (listenOptions.tls !== undefined) throw new Error("listen(): socket and tls exclude each other (a Unix socket never leaves this machine)");
        await removeStaleSocket(socket);
      }
      const host = socket === undefined ? (listenOptions.host ?? DEFAULT_HOST) : `unix:${socket}`;
      const server = new Server({
        "grpc.max_receive_message_length": maxMessageBytes,
        "grpc.max_send_message_length": -1,
      });
      server.addService(createGrpcServiceDefinition(EntityDiscovery), discoveryHandlers(spec, logger));
      server.addService(createGrpcServiceDefinition(ActionProtocol), actionHandlers(actions, logger));
      server.addService(createGrpcServiceDefinition(ValueEntity), valueEntityHandlers(valueEntities, logger));
      server.addService(createGrpcServiceDefinition(EventSourced), eventSourcedHandlers(eventSourcedEntities, logger));
      server.addService(createGrpcServiceDefinition(Crdt), crdtHandlers(crdtEntities, logger));
      // grpc-js logs a failed bind itself; the caller reports it (serve() in one line), so
      // that log is muted for the bind only and the verbosity of GRPC_VERBOSITY restored.
      setLogVerbosity(logVerbosity.NONE);
      const port = await new Promise<number>((resolve, reject) => {
        const address = socket === undefined ? formatAddress(host, listenOptions.port ?? DEFAULT_PORT) : `unix:${socket}`;
        server.bindAsync(address, credentialsOf(listenOptions.tls), (error, port) => {
          if (error === null) {
            resolve(socket === undefined ? port : 0);
          } else {
            server.forceShutdown();
            reject(error);
          }
        });
      }).finally(() => setLogVerbosity(configuredGrpcVerbosity()));
      // The socket file is ours once bound: remembered by inode, so close() never removes one that another server put there since.
      const socketInode = socket === undefined ? undefined : inodeOf(socket);
      let closing: Promise<void> | undefined;
      return {
        host,
        port,
        ...(socket === undefined ? {} : { socket }),
        close() {
          closing ??= new Promise<void>((resolve) => {
            const timer = setTimeout(() => server.forceShutdown(), shutdownTimeoutMs);
            server.tryShutdown(() => {
              clearTimeout(timer);
              if (socket !== undefined && socketInode !== undefined && inodeOf(socket) === socketInode) rmSync(socket, { force: true });
              resolve();
            });
          });
          return closing;
        },
      };
    },
  };
}

/** Plaintext, or TLS with the given certificate (and client certificates required when a client CA is given). */
function credentialsOf(tls: ListenOptions["tls"]): ServerCredentials {
  if (tls === undefined) return ServerCredentials.createInsecure();
  const pem = (value: string | Buffer) => (typeof value === "string" ? Buffer.from(value) : value);
  const clientCa = tls.clientCa === undefined ? null : pem(tls.clientCa);
  return ServerCredentials.createSsl(clientCa, [{ cert_chain: pem(tls.cert), private_key: pem(tls.key) }], clientCa !== null);
}

/** The inode of a path, or undefined when there is nothing there. */
function inodeOf(path: string): number | undefined {
  try {
    return lstatSync(path).ino;
  } catch {
    return undefined;
  }
}

/**
 * Makes room for a Unix socket at `path`: removes a socket file nothing listens on any more
 * (a server that was killed leaves its file behind, and binding over it fails), and refuses
 * anything else — a live socket (another server), a regular file, a directory.
 */
async function removeStaleSocket(path: string): Promise<void> {
  let stats: ReturnType<typeof lstatSync>;
  try {
    stats = lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  if (!stats.isSocket()) throw new Error(`cannot listen on ${path}: it exists and is not a socket (remove it, or choose another path)`);
  const live = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", () => resolve(false));
  });
  if (live) throw new Error(`cannot listen on ${path}: another process is listening on that socket`);
  rmSync(path, { force: true });
}

function formatAddress(host: string, port: number): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]:${port}` : `${host}:${port}`;
}

function discoveryHandlers(spec: EntitySpec, logger: Logger): UntypedServiceImplementation {
  const discover: handleUnaryCall<ProxyInfo, EntitySpec> = (call, callback) => {
    const proxy = call.request;
    logger.info(`discovered by ${proxy.proxyName || "a proxy"} ${proxy.proxyVersion} (protocol ${proxy.protocolMajorVersion}.${proxy.protocolMinorVersion})`);
    if (proxy.protocolMajorVersion !== PROTOCOL_MAJOR_VERSION || proxy.protocolMinorVersion !== PROTOCOL_MINOR_VERSION) {
      logger.warn(
        `the proxy speaks protocol ${proxy.protocolMajorVersion}.${proxy.protocolMinorVersion}; this SDK speaks ${PROTOCOL_MAJOR_VERSION}.${PROTOCOL_MINOR_VERSION}`,
      );
    }
    callback(null, spec);
  };
  const reportError: handleUnaryCall<UserFunctionError, Empty> = (call, callback) => {
    logger.error(`the proxy reported an error: ${call.request.message}`);
    callback(null, create(EmptySchema));
  };
  return { discover, reportError };
}

function actionHandlers(runtime: ReturnType<typeof createActionRuntime>, logger: Logger): UntypedServiceImplementation {
  const internal = (error: unknown) => {
    logger.error("Internal error handling an action call", error);
    return { code: status.INTERNAL, details: "Internal error in the user function" };
  };
  const handleUnary: handleUnaryCall<ActionCommand, ActionResponse> = (call, callback) => {
    runtime.handleUnary(call.request, cancellationSignal(call)).then(
      (response) => callback(null, response),
      (error: unknown) => callback(internal(error)),
    );
  };
  const handleStreamedIn: handleClientStreamingCall<ActionCommand, ActionResponse> = (call, callback) => {
    runtime.handleStreamedIn(readMessages(call), cancellationSignal(call)).then(
      (response) => callback(null, response),
      (error: unknown) => callback(internal(error)),
    );
  };
  const handleStreamedOut: handleServerStreamingCall<ActionCommand, ActionResponse> = (call) => {
    void writeMessages(call, runtime.handleStreamedOut(call.request, cancellationSignal(call)), logger);
  };
  const handleStreamed: handleBidiStreamingCall<ActionCommand, ActionResponse> = (call) => {
    void writeMessages(call, runtime.handleStreamed(readMessages(call), cancellationSignal(call)), logger);
  };
  return { handleUnary, handleStreamedIn, handleStreamedOut, handleStreamed };
}

function valueEntityHandlers(runtime: ReturnType<typeof createValueEntityRuntime>, logger: Logger): UntypedServiceImplementation {
  const handle: handleBidiStreamingCall<ValueEntityStreamIn, ValueEntityStreamOut> = (call) => {
    void writeMessages(call, runtime.handle(readMessages(call), cancellationSignal(call)), logger);
  };
  return { handle };
}

function eventSourcedHandlers(runtime: ReturnType<typeof createEventSourcedRuntime>, logger: Logger): UntypedServiceImplementation {
  const handle: handleBidiStreamingCall<EventSourcedStreamIn, EventSourcedStreamOut> = (call) => {
    void writeMessages(call, runtime.handle(readMessages(call), cancellationSignal(call)), logger);
  };
  return { handle };
}

function crdtHandlers(runtime: ReturnType<typeof createCrdtRuntime>, logger: Logger): UntypedServiceImplementation {
  const handle: handleBidiStreamingCall<CrdtStreamIn, CrdtStreamOut> = (call) => {
    void writeMessages(call, runtime.handle(readMessages(call), cancellationSignal(call)), logger);
  };
  return { handle };
}
