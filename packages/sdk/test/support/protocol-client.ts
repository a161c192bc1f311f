/**
 * A raw Cloudstate protocol client for SDK tests: it plays the proxy against a real SDK server
 * on a real port, with @grpc/grpc-js and the protocol's protobuf-es schemas.
 */
import type { DescMessage, MessageInitShape } from "@bufbuild/protobuf";
import { create } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import { anyPack } from "@bufbuild/protobuf/wkt";
import type { ClientDuplexStream, MethodDefinition, StatusObject } from "@grpc/grpc-js";
import { Client, credentials, Metadata as GrpcMetadata } from "@grpc/grpc-js";
import type {
  ActionCommand,
  ActionResponse,
  CrdtStreamIn,
  CrdtStreamOut,
  EntitySpec,
  EventSourcedStreamIn,
  EventSourcedStreamOut,
  ValueEntityStreamIn,
  ValueEntityStreamOut,
} from "@switchboard/protocol";
import {
  ActionCommandSchema,
  ActionProtocol,
  Crdt,
  CrdtStreamInSchema,
  EntityDiscovery,
  EventSourced,
  EventSourcedStreamInSchema,
  PROTOCOL_MAJOR_VERSION,
  PROTOCOL_MINOR_VERSION,
  ProxyInfoSchema,
  UserFunctionErrorSchema,
  ValueEntity,
  ValueEntityStreamInSchema,
} from "@switchboard/protocol";
import { createGrpcServiceDefinition } from "../../src/internal.js";

const discovery = createGrpcServiceDefinition(EntityDiscovery);
const actionProtocol = createGrpcServiceDefinition(ActionProtocol);
const valueEntity = createGrpcServiceDefinition(ValueEntity);
const eventSourced = createGrpcServiceDefinition(EventSourced);
const crdt = createGrpcServiceDefinition(Crdt);

/** Packs a message given as an init object. */
export function payload<D extends DescMessage>(schema: D, init: MessageInitShape<D>): Any {
  return anyPack(schema, create(schema, init));
}

/** How a stream ended: its status and anything received after the last `next()`. */
export interface StreamEnd<O> {
  readonly status: StatusObject;
  readonly rest: O[];
}

/** An open bidi stream, read one message at a time. */
export interface Session<IInit, O> {
  send(message: IInit): void;
  /** The next message; rejects if the stream ends first or nothing comes within `timeoutMs`. */
  next(timeoutMs?: number): Promise<O>;
  /** Half-closes our side. */
  end(): void;
  cancel(): void;
  /** Resolves when the server ends the stream. */
  readonly ended: Promise<StreamEnd<O>>;
}

function openSession<I, O, IInit>(client: Client, method: MethodDefinition<I, O>, make: (init: IInit) => I, metadata: GrpcMetadata): Session<IInit, O> {
  const call: ClientDuplexStream<I, O> = client.makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, metadata);
  const queue: O[] = [];
  const waiters: Array<{ resolve: (m: O) => void; reject: (e: Error) => void }> = [];
  let status: StatusObject | undefined;
  let resolveEnded: (end: StreamEnd<O>) => void = () => {};
  const ended = new Promise<StreamEnd<O>>((resolve) => {
    resolveEnded = resolve;
  });
  call.on("data", (message: O) => {
    const waiter = waiters.shift();
    if (waiter) waiter.resolve(message);
    else queue.push(message);
  });
  call.on("error", () => {});
  call.on("status", (s: StatusObject) => {
    status = s;
    for (const waiter of waiters.splice(0)) {
      waiter.reject(new Error(`stream ended (${s.code} ${s.details}) while waiting for a message`));
    }
    resolveEnded({ status: s, rest: queue.splice(0) });
  });
  return {
    send: (message) => {
      call.write(make(message));
    },
    next(timeoutMs = 5000) {
      const queued = queue.shift();
      if (queued !== undefined) return Promise.resolve(queued);
      if (status !== undefined) {
        return Promise.reject(new Error(`stream already ended (${status.code} ${status.details})`));
      }
      return new Promise<O>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no message within ${timeoutMs} ms`)), timeoutMs);
        waiters.push({
          resolve: (m) => {
            clearTimeout(timer);
            resolve(m);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
      });
    },
    end: () => {
      call.end();
    },
    cancel: () => {
      call.cancel();
    },
    ended,
  };
}

/** A client speaking the Cloudstate protocol to a user function. */
export interface ProtocolClient {
  discover(info?: MessageInitShape<typeof ProxyInfoSchema>): Promise<EntitySpec>;
  reportError(message: string): Promise<void>;
  handleUnary(command: MessageInitShape<typeof ActionCommandSchema>, headers?: Record<string, string>): Promise<ActionResponse>;
  handleStreamedIn(commands: MessageInitShape<typeof ActionCommandSchema>[]): Promise<ActionResponse>;
  handleStreamedOut(command: MessageInitShape<typeof ActionCommandSchema>): Promise<StreamEnd<ActionResponse>>;
  handleStreamed(): Session<MessageInitShape<typeof ActionCommandSchema>, ActionResponse>;
  valueEntity(): Session<MessageInitShape<typeof ValueEntityStreamInSchema>, ValueEntityStreamOut>;
  eventSourced(): Session<MessageInitShape<typeof EventSourcedStreamInSchema>, EventSourcedStreamOut>;
  crdt(): Session<MessageInitShape<typeof CrdtStreamInSchema>, CrdtStreamOut>;
  close(): void;
}

function unary<I, O>(client: Client, method: MethodDefinition<I, O>, request: I, metadata = new GrpcMetadata()): Promise<O> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, request, metadata, (error, response) => {
      if (error !== null || response === undefined) reject(error ?? new Error("no response"));
      else resolve(response);
    });
  });
}

/** Connects to a user function on 127.0.0.1:`port`. */
export function createProtocolClient(port: number): ProtocolClient {
  const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  const command = (init: MessageInitShape<typeof ActionCommandSchema>): ActionCommand => create(ActionCommandSchema, init);
  return {
    discover(info = {}) {
      const request = create(ProxyInfoSchema, {
        protocolMajorVersion: PROTOCOL_MAJOR_VERSION,
        protocolMinorVersion: PROTOCOL_MINOR_VERSION,
        proxyName: "sdk-test",
        proxyVersion: "0.0.0",
        supportedEntityTypes: [
          "cloudstate.action.ActionProtocol",
          "cloudstate.valueentity.ValueEntity",
          "cloudstate.eventsourced.EventSourced",
          "cloudstate.crdt.Crdt",
        ],
        ...info,
      });
      return unary(client, discovery.discover, request);
    },
    async reportError(message) {
      await unary(client, discovery.reportError, create(UserFunctionErrorSchema, { message }));
    },
    handleUnary(init, headers = {}) {
      const metadata = new GrpcMetadata();
      for (const [k, v] of Object.entries(headers)) metadata.set(k, v);
      return unary(client, actionProtocol.handleUnary, command(init), metadata);
    },
    handleStreamedIn(inits) {
      return new Promise((resolve, reject) => {
        const call = client.makeClientStreamRequest(
          actionProtocol.handleStreamedIn.path,
          actionProtocol.handleStreamedIn.requestSerialize,
          actionProtocol.handleStreamedIn.responseDeserialize,
          (error, response) => {
            if (error !== null || response === undefined) reject(error ?? new Error("no response"));
            else resolve(response);
          },
        );
        for (const init of inits) call.write(command(init));
        call.end();
      });
    },
    handleStreamedOut(init) {
      const call = client.makeServerStreamRequest(
        actionProtocol.handleStreamedOut.path,
        actionProtocol.handleStreamedOut.requestSerialize,
        actionProtocol.handleStreamedOut.responseDeserialize,
        command(init),
      );
      const responses: ActionResponse[] = [];
      return new Promise((resolve) => {
        call.on("data", (r: ActionResponse) => responses.push(r));
        call.on("error", () => {});
        call.on("status", (status: StatusObject) => resolve({ status, rest: responses }));
      });
    },
    handleStreamed() {
      return openSession(client, actionProtocol.handleStreamed, command, new GrpcMetadata());
    },
    valueEntity() {
      return openSession(
        client,
        valueEntity.handle,
        (init: MessageInitShape<typeof ValueEntityStreamInSchema>): ValueEntityStreamIn => create(ValueEntityStreamInSchema, init),
        new GrpcMetadata(),
      );
    },
    eventSourced() {
      return openSession(
        client,
        eventSourced.handle,
        (init: MessageInitShape<typeof EventSourcedStreamInSchema>): EventSourcedStreamIn => create(EventSourcedStreamInSchema, init),
        new GrpcMetadata(),
      );
    },
    crdt() {
      return openSession(
        client,
        crdt.handle,
        (init: MessageInitShape<typeof CrdtStreamInSchema>): CrdtStreamIn => create(CrdtStreamInSchema, init),
        new GrpcMetadata(),
      );
    },
    close() {
      client.close();
    },
  };
}
