/**
 * A user function written against the raw Cloudstate protocol that serves
 * `switchboard.test.http.Transcoding` (test/http/proto) as an Action: it echoes what
 * it gets, so HTTP/JSON, gRPC-Web and reflection tests can see exactly which message
 * the proxy built from a request. Every reply carries the metadata `x-method: <name>`.
 */
import { create, type DescMessage, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { type Any, anyPack, anyUnpack, EmptySchema } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import {
  type ActionCommand,
  ActionCommandSchema,
  type ActionResponse,
  ActionResponseSchema,
  EntitySpecSchema,
  HttpBodySchema,
  type MetadataEntry,
  ProxyInfoSchema,
  UserFunctionErrorSchema,
} from "@switchboard/protocol";
import { descriptorSetOf } from "../../support/model-user-function.js";
import {
  EchoMessageSchema,
  FailRequestSchema,
  file_switchboard_test_http_transcoding,
  StreamRequestSchema,
} from "../gen/switchboard/test/http/transcoding_pb.js";

/** The service name the echo user function declares. */
export const TRANSCODING_SERVICE = "switchboard.test.http.Transcoding";

/** A running echo user function. */
export interface EchoUserFunction {
  readonly port: number;
  /** Every Action command received, by rpc. */
  readonly commands: { rpc: string; command: ActionCommand }[];
  /** reportError messages received. */
  readonly reportedErrors: string[];
  close(): Promise<void>;
}

function method(
  path: string,
  input: DescMessage,
  output: DescMessage,
  requestStream: boolean,
  responseStream: boolean,
): grpc.MethodDefinition<unknown, unknown> {
  return {
    path,
    requestStream,
    responseStream,
    requestSerialize: (v: unknown) => Buffer.from(toBinary(input, v as MessageShape<DescMessage>)),
    requestDeserialize: (b: Buffer) => fromBinary(input, b),
    responseSerialize: (v: unknown) => Buffer.from(toBinary(output, v as MessageShape<DescMessage>)),
    responseDeserialize: (b: Buffer) => fromBinary(output, b),
  };
}

const ECHO_URL = "type.googleapis.com/switchboard.test.http.EchoMessage";

function stringEntry(key: string, value: string): MetadataEntry {
  return { $typeName: "cloudstate.MetadataEntry", key, value: { case: "stringValue", value } };
}

function reply(name: string, payload: Any, extra: MetadataEntry[] = []): ActionResponse {
  return create(ActionResponseSchema, { response: { case: "reply", value: { payload, metadata: { entries: [stringEntry("x-method", name), ...extra] } } } });
}

function failure(description: string): ActionResponse {
  return create(ActionResponseSchema, { response: { case: "failure", value: { description } } });
}

/** The same bytes under another type URL (the echo of a request as a reply). */
function retype(payload: Any | undefined, typeUrl: string): Any {
  return { $typeName: "google.protobuf.Any", typeUrl, value: payload?.value ?? new Uint8Array(0) };
}

/** Answers one unary command. */
async function unary(command: ActionCommand): Promise<ActionResponse> {
  const name = command.name;
  switch (name) {
    case "Echo":
    case "Item":
    case "Special":
    case "Field":
    case "BookBody":
    case "Broken":
      return reply(name, retype(command.payload, ECHO_URL));
    case "Upload":
      return reply(name, retype(command.payload, "type.googleapis.com/google.api.HttpBody"));
    case "UploadNamed":
      return reply(name, retype(command.payload, "type.googleapis.com/switchboard.test.http.NamedUpload"));
    case "Download": {
      const request = command.payload ? anyUnpack(command.payload, EchoMessageSchema) : undefined;
      return reply(
        name,
        anyPack(HttpBodySchema, create(HttpBodySchema, { contentType: "text/plain; charset=utf-8", data: Buffer.from(`hello ${request?.id ?? ""}`) })),
      );
    }
    case "Fail": {
      const request = command.payload ? anyUnpack(command.payload, FailRequestSchema) : undefined;
      return failure(request?.message ?? "");
    }
    case "Slow": {
      const request = command.payload ? anyUnpack(command.payload, StreamRequestSchema) : undefined;
      await new Promise((r) => setTimeout(r, request?.delayMs ?? 0));
      return reply(name, anyPack(EchoMessageSchema, create(EchoMessageSchema, { id: "slow" })));
    }
    case "Headers": {
      const labels: Record<string, string> = {};
      const binaryLabels: Record<string, Uint8Array> = {};
      for (const entry of command.metadata?.entries ?? []) {
        if (entry.value.case === "stringValue") labels[entry.key] = entry.value.value;
        else if (entry.value.case === "bytesValue") binaryLabels[entry.key] = entry.value.value;
      }
      return reply(name, anyPack(EchoMessageSchema, create(EchoMessageSchema, { labels, binaryLabels })), [
        stringEntry("x-reply", "yes"),
        stringEntry("x-multi", "one"),
        stringEntry("x-multi", "two"),
        { $typeName: "cloudstate.MetadataEntry", key: "x-bytes-bin", value: { case: "bytesValue", value: new Uint8Array([1, 2]) } },
        stringEntry("bad header name", "dropped"),
        stringEntry("x-bad-value", "line\nbreak"),
        stringEntry("content-length", "999"),
      ]);
    }
    case "NoReply":
      return create(ActionResponseSchema, {});
    default:
      return failure(`the echo user function has no unary method ${name}`);
  }
}

/** Starts the echo user function on 127.0.0.1:`port` (0: any free port). */
export async function startEchoUserFunction(options: { port?: number } = {}): Promise<EchoUserFunction> {
  const server = new grpc.Server();
  const uf: EchoUserFunction = {
    port: 0,
    commands: [],
    reportedErrors: [],
    close: () =>
      new Promise((resolve) => {
        server.forceShutdown();
        resolve();
      }),
  };
  const spec = create(EntitySpecSchema, {
    proto: descriptorSetOf([file_switchboard_test_http_transcoding]),
    serviceInfo: {
      serviceName: "echo-user-function",
      supportLibraryName: "switchboard-test-fixture",
      supportLibraryVersion: "0.0.0",
      protocolMajorVersion: 0,
      protocolMinorVersion: 2,
    },
    entities: [{ entityType: "cloudstate.action.ActionProtocol", serviceName: TRANSCODING_SERVICE }],
  });
  server.addService(
    {
      discover: method("/cloudstate.EntityDiscovery/discover", ProxyInfoSchema, EntitySpecSchema, false, false),
      reportError: method("/cloudstate.EntityDiscovery/reportError", UserFunctionErrorSchema, EmptySchema, false, false),
    },
    {
      discover: ((_call, callback) => callback(null, spec)) as grpc.handleUnaryCall<unknown, unknown>,
      reportError: ((call, callback) => {
        uf.reportedErrors.push((call.request as { message: string }).message);
        callback(null, create(EmptySchema));
      }) as grpc.handleUnaryCall<unknown, unknown>,
    } as grpc.UntypedServiceImplementation,
  );

  const handlers = {
    handleUnary: ((call, callback) => {
      const command = call.request as ActionCommand;
      uf.commands.push({ rpc: "handleUnary", command });
      unary(command).then(
        (response) => callback(null, response),
        (error: Error) => callback({ code: grpc.status.INTERNAL, details: error.message }),
      );
    }) as grpc.handleUnaryCall<unknown, unknown>,
    handleStreamedOut: ((call) => {
      const command = call.request as ActionCommand;
      uf.commands.push({ rpc: "handleStreamedOut", command });
      void (async () => {
        if (command.name === "DownloadStream") {
          for (const part of ["one,", "two,", "three"]) {
            call.write(reply(command.name, anyPack(HttpBodySchema, create(HttpBodySchema, { contentType: "text/csv", data: Buffer.from(part) }))));
          }
        } else if (command.name === "Stream") {
          const request = command.payload ? anyUnpack(command.payload, StreamRequestSchema) : undefined;
          for (let i = 0; i < (request?.count ?? 0); i++) {
            if (call.cancelled) return;
            if ((request?.delayMs ?? 0) > 0) await new Promise((r) => setTimeout(r, request?.delayMs));
            call.write(reply(command.name, anyPack(EchoMessageSchema, create(EchoMessageSchema, { id: String(i), numbers: [BigInt(i)] }))));
          }
          if (request?.failWith) call.write(failure(request.failWith));
        } else {
          call.write(failure(`the echo user function has no server-streaming method ${command.name}`));
        }
        call.end();
      })();
    }) as grpc.handleServerStreamingCall<unknown, unknown>,
    handleStreamedIn: ((call, callback) => {
      const messages: MessageShape<typeof EchoMessageSchema>[] = [];
      call.on("data", (command: ActionCommand) => {
        uf.commands.push({ rpc: "handleStreamedIn", command });
        if (command.payload) messages.push(anyUnpack(command.payload, EchoMessageSchema) ?? create(EchoMessageSchema));
      });
      call.on("end", () => {
        callback(
          null,
          reply("Collect", anyPack(EchoMessageSchema, create(EchoMessageSchema, { id: String(messages.length), tags: messages.flatMap((m) => m.tags) }))),
        );
      });
    }) as grpc.handleClientStreamingCall<unknown, unknown>,
    handleStreamed: ((call) => {
      call.on("data", (command: ActionCommand) => {
        uf.commands.push({ rpc: "handleStreamed", command });
        if (command.payload) call.write(reply("Chat", retype(command.payload, ECHO_URL)));
      });
      call.on("end", () => call.end());
    }) as grpc.handleBidiStreamingCall<unknown, unknown>,
  };
  server.addService(
    {
      handleUnary: method("/cloudstate.action.ActionProtocol/handleUnary", ActionCommandSchema, ActionResponseSchema, false, false),
      handleStreamedIn: method("/cloudstate.action.ActionProtocol/handleStreamedIn", ActionCommandSchema, ActionResponseSchema, true, false),
      handleStreamedOut: method("/cloudstate.action.ActionProtocol/handleStreamedOut", ActionCommandSchema, ActionResponseSchema, false, true),
      handleStreamed: method("/cloudstate.action.ActionProtocol/handleStreamed", ActionCommandSchema, ActionResponseSchema, true, true),
    },
    handlers as grpc.UntypedServiceImplementation,
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${options.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  (uf as { port: number }).port = port;
  return uf;
}
