/**
 * The interceptor: a gRPC server the proxy takes for its user function. It forwards every
 * call of the Cloudstate protocol services to the real user function, byte for byte and
 * with the same call shape, and records what passes in both directions so that tests can
 * assert on the exact message sequences (upstream: testkit `InterceptService`).
 */
import { create, type DescMessage, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import {
  ActionCommandSchema,
  ActionProtocol,
  ActionResponseSchema,
  Crdt,
  CrdtStreamInSchema,
  CrdtStreamOutSchema,
  EntityDiscovery,
  EntitySpecSchema,
  EventSourced,
  EventSourcedStreamInSchema,
  EventSourcedStreamOutSchema,
  ProxyInfoSchema,
  UserFunctionErrorSchema,
  ValueEntity,
  ValueEntityStreamInSchema,
  ValueEntityStreamOutSchema,
} from "@switchboard/protocol";
import { crdtBefore02 as olderCrdt } from "@switchboard/protocol/older";
import { createCrdtTranslation, speaksCrdtBefore02 } from "@switchboard/proxy/internal";
import { TckAssertionError } from "./assertion-error.js";
import {
  ActionStreamedConnection,
  ActionStreamedInConnection,
  ActionStreamedOutConnection,
  ActionUnaryConnection,
  CONNECTION_KIND_NAMES,
  type ConnectionByKind,
  type ConnectionKind,
  crdtConnection,
  DiscoveryConnection,
  type EntityConnection,
  eventSourcedConnection,
  type InterceptedConnection,
  type StreamEvent,
  valueEntityConnection,
} from "./connections.js";
import { createProbe, DEFAULT_EXPECT_TIMEOUT_MS, type Probe } from "./probe.js";

/** Options of {@link createInterceptor}. */
export interface InterceptorOptions {
  /** Address to bind (default 127.0.0.1). */
  readonly bindHost?: string;
  /** Port to bind (default 8090; 0 picks a free port). */
  readonly bindPort?: number;
  /** The real user function's host (default 127.0.0.1). */
  readonly userFunctionHost?: string;
  /** The real user function's port (default 8080). */
  readonly userFunctionPort?: number;
  /** How long `start` waits for the user function to answer `discover` (default 60 s). */
  readonly onlineTimeoutMs?: number;
  /** Window of {@link Interceptor.verifyNoMoreInteractions} (default 10 ms, as upstream). */
  readonly noMoreInteractionsWindowMs?: number;
}

/** A running interceptor. */
export interface Interceptor {
  /** The bound port. */
  readonly port: number;
  /** Texts the proxy sent with `reportError` (forwarded, never counted as connections). */
  readonly reportedErrors: readonly string[];
  /**
   * Waits for the next recorded call and checks its kind. Calls are queued in arrival
   * order, whatever their kind, so an unexpected call fails the expectation.
   */
  expectConnection<K extends ConnectionKind>(kind: K, timeoutMs?: number): Promise<ConnectionByKind[K]>;
  /** Waits for the proxy's discovery and returns what passed: `ProxyInfo` in, `EntitySpec` out. */
  expectDiscovery(timeoutMs?: number): Promise<{ proxyInfo: MessageShape<typeof ProxyInfoSchema>; spec: MessageShape<typeof EntitySpecSchema> }>;
  /** Asserts that no further call arrives within the configured window (10 ms). */
  verifyNoMoreInteractions(): Promise<void>;
  /** Removes and returns every queued, unexpected call (isolates a failed test from the next). */
  drain(): InterceptedConnection[];
  /** Stops the server and cancels the forwarded calls. */
  close(): Promise<void>;
}

const passThrough = (value: Buffer): Buffer => value;

function method(path: string, requestStream: boolean, responseStream: boolean): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path,
    requestStream,
    responseStream,
    requestSerialize: passThrough,
    requestDeserialize: passThrough,
    responseSerialize: passThrough,
    responseDeserialize: passThrough,
  };
}

/** The gRPC path of a protocol method. */
function pathOf(service: { typeName: string }, name: string): string {
  return `/${service.typeName}/${name}`;
}

/** Headers not copied onto the forwarded call: grpc-js sets its own. */
const HOP_HEADERS = new Set(["user-agent", "grpc-timeout", "grpc-encoding", "grpc-accept-encoding", "content-type", "te", "host"]);

function forwardedMetadata(metadata: grpc.Metadata): grpc.Metadata {
  const copy = new grpc.Metadata();
  for (const [key, values] of Object.entries(metadata.toJSON())) {
    if (HOP_HEADERS.has(key) || key.startsWith(":")) continue;
    for (const value of values) copy.add(key, value);
  }
  return copy;
}

function callOptions(call: { getDeadline(): grpc.Deadline }): grpc.CallOptions {
  const deadline = call.getDeadline();
  return deadline === Number.POSITIVE_INFINITY ? {} : { deadline };
}

/** Decodes older-wire bytes and records them as the 0.2 message they translate to. */
function translated<D extends DescMessage, T>(schema: D, bytes: Uint8Array, translate: (message: MessageShape<D>) => T): StreamEvent<T> {
  const event = decode(schema, bytes);
  return event.kind === "message" ? { kind: "message", message: translate(event.message) } : event;
}

function decode<D extends DescMessage>(schema: D, bytes: Uint8Array): StreamEvent<MessageShape<D>> {
  try {
    return { kind: "message", message: fromBinary(schema, bytes) };
  } catch (error) {
    return { kind: "undecodable", error: (error as Error).message };
  }
}

/** Turns a client-side status into the error a server handler sends back. */
function statusError(status: grpc.StatusObject): grpc.ServerErrorResponse {
  return Object.assign(new Error(status.details), { code: status.code, details: status.details, metadata: status.metadata });
}

/**
 * Wires a server call with a request stream to a forwarded client call with one, copying
 * messages, half-close and cancellation towards the user function.
 */
function pipeRequests(
  call: grpc.ServerReadableStream<Buffer, Buffer> | grpc.ServerDuplexStream<Buffer, Buffer>,
  upstream: grpc.ClientWritableStream<Buffer> | grpc.ClientDuplexStream<Buffer, Buffer>,
  record: (event: StreamEvent<Uint8Array>) => void,
  isFinished: () => boolean,
): void {
  call.on("data", (bytes: Buffer) => {
    record({ kind: "message", message: bytes });
    if (!isFinished()) upstream.write(bytes);
  });
  call.on("end", () => {
    // A cancel also ends the readable side; grpc-js flags the cancel a tick later, so look
    // again after pending ticks before taking this for a half-close.
    setImmediate(() => {
      if (call.cancelled) return;
      record({ kind: "complete" });
      if (!isFinished()) upstream.end();
    });
  });
  call.on("cancelled", () => {
    if (isFinished()) return;
    record({ kind: "error", code: grpc.status.CANCELLED, details: "the proxy cancelled the call" });
    upstream.cancel();
  });
  call.on("error", () => {});
}

/**
 * Starts an interceptor: waits until the user function answers `discover` (that call is not
 * recorded), then binds the port and forwards and records every call.
 */
export async function createInterceptor(options: InterceptorOptions = {}): Promise<Interceptor> {
  const target = `${options.userFunctionHost ?? "127.0.0.1"}:${options.userFunctionPort ?? 8080}`;
  const windowMs = options.noMoreInteractionsWindowMs ?? 10;
  const channelOptions: grpc.ChannelOptions = {
    "grpc.max_send_message_length": -1,
    "grpc.max_receive_message_length": -1,
  };
  const client = new grpc.Client(target, grpc.credentials.createInsecure(), channelOptions);
  await waitUntilOnline(client, options.onlineTimeoutMs ?? 60_000);

  const connections: Probe<InterceptedConnection> = createProbe();
  /** The last discovery reported a protocol before 0.2: CRDT streams carry the older CRDT wire. */
  let crdtBefore02 = false;
  const reportedErrors: string[] = [];
  // Forwarded calls still open, cancelled on close.
  const active = new Set<{ cancel(): void }>();
  const track = <C extends { cancel(): void }>(call: C): C => {
    active.add(call);
    (call as unknown as NodeJS.EventEmitter).on("status", () => active.delete(call));
    return call;
  };
  const server = new grpc.Server(channelOptions);

  // EntityDiscovery: discover is recorded as a connection; reportError is only collected.
  const discoveryPath = (name: string) => pathOf(EntityDiscovery, name);
  server.addService({ discover: method(discoveryPath("discover"), false, false), reportError: method(discoveryPath("reportError"), false, false) }, {
    discover(call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) {
      const info = decode(ProxyInfoSchema, call.request);
      const discovery = new DiscoveryConnection(info.kind === "message" ? info.message : create(ProxyInfoSchema));
      connections.push(discovery);
      track(
        client.makeUnaryRequest(
          discoveryPath("discover"),
          passThrough,
          passThrough,
          call.request,
          forwardedMetadata(call.metadata),
          callOptions(call),
          (error, response) => {
            if (error || response === undefined) {
              discovery.out.push({ error: error?.message ?? "no response" });
              callback(error ?? { code: grpc.status.INTERNAL, details: "no response" });
              return;
            }
            const spec = decode(EntitySpecSchema, response);
            if (spec.kind === "message") {
              const info = spec.message.serviceInfo;
              crdtBefore02 = speaksCrdtBefore02(info?.protocolMajorVersion ?? 0, info?.protocolMinorVersion ?? 0);
            }
            discovery.out.push(spec.kind === "message" ? { spec: spec.message } : { error: "undecodable EntitySpec" });
            callback(null, response);
          },
        ),
      );
    },
    reportError(call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) {
      const error = decode(UserFunctionErrorSchema, call.request);
      reportedErrors.push(error.kind === "message" ? error.message.message : "(undecodable UserFunctionError)");
      track(
        client.makeUnaryRequest(
          discoveryPath("reportError"),
          passThrough,
          passThrough,
          call.request,
          forwardedMetadata(call.metadata),
          callOptions(call),
          (e, response) => callback(e, response),
        ),
      );
    },
  } as grpc.UntypedServiceImplementation);

  // ActionProtocol: the four call shapes.
  const actionPath = (name: string) => pathOf(ActionProtocol, name);
  server.addService(
    {
      handleUnary: method(actionPath("handleUnary"), false, false),
      handleStreamedIn: method(actionPath("handleStreamedIn"), true, false),
      handleStreamedOut: method(actionPath("handleStreamedOut"), false, true),
      handleStreamed: method(actionPath("handleStreamed"), true, true),
    },
    {
      handleUnary(call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) {
        const command = decode(ActionCommandSchema, call.request);
        const connection = new ActionUnaryConnection(command.kind === "message" ? command.message : create(ActionCommandSchema));
        connections.push(connection);
        track(
          client.makeUnaryRequest(
            actionPath("handleUnary"),
            passThrough,
            passThrough,
            call.request,
            forwardedMetadata(call.metadata),
            callOptions(call),
            (error, response) => {
              if (error || response === undefined) {
                connection.out.push({ kind: "error", code: error?.code ?? grpc.status.INTERNAL, details: error?.details ?? "no response" });
                callback(error ?? { code: grpc.status.INTERNAL, details: "no response" });
                return;
              }
              connection.out.push(decode(ActionResponseSchema, response));
              callback(null, response);
            },
          ),
        );
      },
      handleStreamedIn(call: grpc.ServerReadableStream<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) {
        const connection = new ActionStreamedInConnection();
        connections.push(connection);
        let finished = false;
        const upstream = track(
          client.makeClientStreamRequest(
            actionPath("handleStreamedIn"),
            passThrough,
            passThrough,
            forwardedMetadata(call.metadata),
            callOptions(call),
            (error, response) => {
              finished = true;
              if (error || response === undefined) {
                connection.out.push({ kind: "error", code: error?.code ?? grpc.status.INTERNAL, details: error?.details ?? "no response" });
                callback(error ?? { code: grpc.status.INTERNAL, details: "no response" });
                return;
              }
              connection.out.push(decode(ActionResponseSchema, response));
              callback(null, response);
            },
          ),
        );
        pipeRequests(
          call,
          upstream,
          (event) => recordCommand(connection, event),
          () => finished,
        );
      },
      handleStreamedOut(call: grpc.ServerWritableStream<Buffer, Buffer>) {
        const command = decode(ActionCommandSchema, call.request);
        const connection = new ActionStreamedOutConnection(command.kind === "message" ? command.message : create(ActionCommandSchema));
        connections.push(connection);
        const upstream = track(
          client.makeServerStreamRequest(
            actionPath("handleStreamedOut"),
            passThrough,
            passThrough,
            call.request,
            forwardedMetadata(call.metadata),
            callOptions(call),
          ),
        );
        let finished = false;
        call.on("cancelled", () => {
          if (!finished) upstream.cancel();
        });
        call.on("error", () => {});
        pipeResponses(call, upstream, connection.out, ActionResponseSchema, () => {
          finished = true;
        });
      },
      handleStreamed(call: grpc.ServerDuplexStream<Buffer, Buffer>) {
        const connection = new ActionStreamedConnection();
        connections.push(connection);
        forwardBidi(call, actionPath("handleStreamed"), (event) => recordCommand(connection, event), connection.out, ActionResponseSchema);
      },
    } as grpc.UntypedServiceImplementation,
  );

  // Entity protocols: one bidirectional stream per entity.
  const entityService = <K extends "event-sourced" | "value-entity" | "crdt", I extends DescMessage, O extends DescMessage>(
    service: { typeName: string },
    make: () => EntityConnection<K, I, O>,
    inSchema: I,
    outSchema: O,
    /** The decoder of one stream's messages (one per stream: a translation may follow the stream). */
    decoderFor: () => <D extends I | O>(schema: D, bytes: Uint8Array) => StreamEvent<MessageShape<D>> = () => decode,
  ) => {
    const path = pathOf(service, "handle");
    server.addService({ handle: method(path, true, true) }, {
      handle(call: grpc.ServerDuplexStream<Buffer, Buffer>) {
        const connection = make();
        const decodeAs = decoderFor();
        connections.push(connection as unknown as InterceptedConnection);
        forwardBidi(
          call,
          path,
          (event) => {
            const decoded = event.kind === "message" ? decodeAs(inSchema, event.message) : event;
            if (decoded.kind === "message" && connection.first === undefined) connection.first = decoded.message;
            connection.in.push(decoded);
          },
          connection.out,
          outSchema,
          decodeAs,
        );
      },
    } as grpc.UntypedServiceImplementation);
  };
  entityService(EventSourced, eventSourcedConnection, EventSourcedStreamInSchema, EventSourcedStreamOutSchema);
  entityService(ValueEntity, valueEntityConnection, ValueEntityStreamInSchema, ValueEntityStreamOutSchema);
  entityService(Crdt, crdtConnection, CrdtStreamInSchema, CrdtStreamOutSchema, () => {
    if (!crdtBefore02) return decode;
    // The user function reported a protocol before 0.2: the bytes are the older CRDT wire, recorded as the 0.2 messages they translate to.
    const translation = createCrdtTranslation();
    return <D extends typeof CrdtStreamInSchema | typeof CrdtStreamOutSchema>(schema: D, bytes: Uint8Array) =>
      (schema === CrdtStreamInSchema
        ? translated(olderCrdt.CrdtStreamInSchema, bytes, (m) => translation.fromOlderIn(m))
        : translated(olderCrdt.CrdtStreamOutSchema, bytes, (m) => translation.fromOlder(m))) as StreamEvent<MessageShape<D>>;
  });

  function recordCommand(connection: ActionStreamedInConnection | ActionStreamedConnection, event: StreamEvent<Uint8Array>): void {
    const decoded = event.kind === "message" ? decode(ActionCommandSchema, event.message) : event;
    if (decoded.kind === "message" && connection.first === undefined) connection.first = decoded.message;
    connection.in.push(decoded);
  }

  /** Copies a forwarded call's responses, completion and status back to the proxy. */
  function pipeResponses<D extends DescMessage>(
    call: grpc.ServerWritableStream<Buffer, Buffer> | grpc.ServerDuplexStream<Buffer, Buffer>,
    upstream: grpc.ClientReadableStream<Buffer> | grpc.ClientDuplexStream<Buffer, Buffer>,
    out: Probe<StreamEvent<MessageShape<D>>>,
    schema: D,
    onFinished: () => void,
    decodeOut: (schema: D, bytes: Uint8Array) => StreamEvent<MessageShape<D>> = decode,
  ): void {
    upstream.on("data", (bytes: Buffer) => {
      out.push(decodeOut(schema, bytes));
      if (!call.cancelled) call.write(bytes);
    });
    upstream.on("error", () => {});
    upstream.on("status", (status: grpc.StatusObject) => {
      onFinished();
      if (status.code === grpc.status.OK) {
        out.push({ kind: "complete" });
        if (!call.cancelled) call.end(status.metadata);
      } else {
        out.push({ kind: "error", code: status.code, details: status.details });
        if (!call.cancelled) call.emit("error", statusError(status));
      }
    });
  }

  function forwardBidi<D extends DescMessage>(
    call: grpc.ServerDuplexStream<Buffer, Buffer>,
    path: string,
    recordIn: (event: StreamEvent<Uint8Array>) => void,
    out: Probe<StreamEvent<MessageShape<D>>>,
    schema: D,
    decodeOut: (schema: D, bytes: Uint8Array) => StreamEvent<MessageShape<D>> = decode,
  ): void {
    const upstream = track(client.makeBidiStreamRequest(path, passThrough, passThrough, forwardedMetadata(call.metadata), callOptions(call)));
    let finished = false;
    pipeRequests(call, upstream, recordIn, () => finished);
    pipeResponses(
      call,
      upstream,
      out,
      schema,
      () => {
        finished = true;
      },
      decodeOut,
    );
  }

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${options.bindHost ?? "127.0.0.1"}:${options.bindPort ?? 8090}`, grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    );
  });

  async function expectConnection<K extends ConnectionKind>(kind: K, timeoutMs = DEFAULT_EXPECT_TIMEOUT_MS): Promise<ConnectionByKind[K]> {
    const connection = await connections.next(CONNECTION_KIND_NAMES[kind], timeoutMs);
    if (connection.kind !== kind) {
      throw new TckAssertionError(`expected ${CONNECTION_KIND_NAMES[kind]}, got ${connection.describe()}`);
    }
    return connection as ConnectionByKind[K];
  }

  return {
    port,
    reportedErrors,
    expectConnection,
    async expectDiscovery(timeoutMs = DEFAULT_EXPECT_TIMEOUT_MS) {
      const discovery = await expectConnection("discovery", timeoutMs);
      const spec = await discovery.expectEntitySpec(timeoutMs);
      return { proxyInfo: discovery.proxyInfo, spec };
    },
    verifyNoMoreInteractions() {
      return connections.expectNone("further calls from the proxy", windowMs, (c) => c.describe());
    },
    drain() {
      return connections.drain();
    },
    close() {
      for (const call of active) call.cancel();
      return new Promise<void>((resolve) => {
        server.tryShutdown(() => {
          client.close();
          resolve();
        });
        // Streams the proxy keeps open would hold tryShutdown forever.
        setTimeout(() => server.forceShutdown(), 500).unref();
      });
    },
  };
}

/**
 * Calls `discover` on the user function until it answers (upstream: `expectOnline`). The
 * call goes straight to the user function and is not recorded.
 */
async function waitUntilOnline(client: grpc.Client, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  const info = toBinary(
    ProxyInfoSchema,
    create(ProxyInfoSchema, {
      protocolMajorVersion: 0,
      protocolMinorVersion: 2,
      proxyName: "switchboard-tck",
      proxyVersion: "0.1.0",
      supportedEntityTypes: [ActionProtocol.typeName, Crdt.typeName, EventSourced.typeName, ValueEntity.typeName],
    }),
  );
  let lastError = "";
  while (Date.now() < until) {
    const answered = await new Promise<boolean>((resolve) => {
      client.makeUnaryRequest(
        pathOf(EntityDiscovery, "discover"),
        passThrough,
        passThrough,
        Buffer.from(info),
        new grpc.Metadata(),
        { deadline: Date.now() + Math.max(100, Math.min(5000, until - Date.now())) },
        (error) => {
          if (error) lastError = error.message;
          resolve(!error);
        },
      );
    });
    if (answered) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`the user function at ${client.getChannel().getTarget()} did not answer discover within ${timeoutMs} ms (last error: ${lastError})`);
}
