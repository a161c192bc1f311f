/**
 * A user function written directly against the Cloudstate protocol (no SDK), serving
 * the TCK model services for Actions and Value entities. Proxy tests run it on a real
 * port and can make it misbehave (wrong command ids, top-level failures, broken
 * streams, slow replies) to check how the proxy copes. It also records what it saw:
 * discover calls, reportError messages, entity streams and their messages.
 */
import { create, type DescFile, type DescMessage, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { type Any, AnySchema, anyPack, anyUnpack, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import {
  type ActionCommand,
  ActionCommandSchema,
  ActionResponseSchema,
  ClientActionSchema,
  type EntitySpec,
  EntitySpecSchema,
  FailureSchema,
  ForwardSchema,
  ProxyInfoSchema,
  ReplySchema,
  SideEffectSchema,
  UserFunctionErrorSchema,
  type ValueEntityStreamIn,
  ValueEntityStreamInSchema,
  ValueEntityStreamOutSchema,
  type ProxyInfo,
} from "@switchboard/protocol";
import { action as actionModel, eventlogeventing, eventsourced, valueentity } from "@switchboard/protocol/tck";
import { addEventSourcedModel, type EventSourcedModelState } from "./model-event-sourced.js";
import { EmptySchema } from "@bufbuild/protobuf/wkt";

type Handler =
  | grpc.handleUnaryCall<unknown, unknown>
  | grpc.handleBidiStreamingCall<unknown, unknown>
  | grpc.handleClientStreamingCall<unknown, unknown>
  | grpc.handleServerStreamingCall<unknown, unknown>;

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

/** Builds a FileDescriptorSet (bytes) with the given files and all their imports. */
export function descriptorSetOf(files: readonly DescFile[], options: { reverse?: boolean; omit?: readonly string[] } = {}): Uint8Array {
  const seen = new Map<string, DescFile>();
  const visit = (file: DescFile) => {
    if (seen.has(file.proto.name)) return;
    for (const dep of file.dependencies) visit(dep);
    seen.set(file.proto.name, file);
  };
  for (const f of files) visit(f);
  let list = [...seen.values()].filter((f) => !(options.omit ?? []).includes(f.proto.name)).map((f) => f.proto);
  if (options.reverse) list = list.reverse();
  return toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file: list }));
}

/** The default spec: the TCK Action and Value-entity model services. */
export function defaultSpec(
  overrides: Partial<{ protocolMajor: number; protocolMinor: number; proto: Uint8Array; configuredTimeoutMs: number }> = {},
): EntitySpec {
  return create(EntitySpecSchema, {
    proto:
      overrides.proto ??
      descriptorSetOf([
        valueentity.file_cloudstate_tck_model_valueentity,
        actionModel.file_cloudstate_tck_model_action,
        eventsourced.file_cloudstate_tck_model_eventsourced,
        eventlogeventing.file_cloudstate_tck_model_eventlogeventing,
      ]),
    serviceInfo: {
      serviceName: "model-user-function",
      supportLibraryName: "switchboard-test-fixture",
      supportLibraryVersion: "0.0.0",
      protocolMajorVersion: overrides.protocolMajor ?? 0,
      protocolMinorVersion: overrides.protocolMinor ?? 2,
    },
    entities: [
      {
        entityType: "cloudstate.valueentity.ValueEntity",
        serviceName: "cloudstate.tck.model.valueentity.ValueEntityTckModel",
        persistenceId: "value-entity-tck-model",
      },
      {
        entityType: "cloudstate.valueentity.ValueEntity",
        serviceName: "cloudstate.tck.model.valueentity.ValueEntityTwo",
        persistenceId: "value-entity-tck-model-two",
      },
      {
        entityType: "cloudstate.valueentity.ValueEntity",
        serviceName: "cloudstate.tck.model.valueentity.ValueEntityConfigured",
        persistenceId: "value-entity-configured",
        passivationStrategy: { strategy: { case: "timeout", value: { timeout: BigInt(overrides.configuredTimeoutMs ?? 100) } } },
      },
      { entityType: "cloudstate.action.ActionProtocol", serviceName: "cloudstate.tck.model.action.ActionTckModel" },
      {
        entityType: "cloudstate.eventsourced.EventSourced",
        serviceName: "cloudstate.tck.model.EventSourcedTckModel",
        persistenceId: "event-sourced-tck-model",
      },
      { entityType: "cloudstate.eventsourced.EventSourced", serviceName: "cloudstate.tck.model.EventSourcedTwo", persistenceId: "EventSourcedTwo" },
      {
        entityType: "cloudstate.eventsourced.EventSourced",
        serviceName: "cloudstate.tck.model.EventSourcedConfigured",
        persistenceId: "event-sourced-configured",
        passivationStrategy: { strategy: { case: "timeout", value: { timeout: BigInt(overrides.configuredTimeoutMs ?? 100) } } },
      },
      { entityType: "cloudstate.action.ActionProtocol", serviceName: "cloudstate.tck.model.action.ActionTwo" },
      { entityType: "cloudstate.action.ActionProtocol", serviceName: "cloudstate.tck.model.eventlogeventing.EventLogSubscriberModel" },
      {
        entityType: "cloudstate.eventsourced.EventSourced",
        serviceName: "cloudstate.tck.model.eventlogeventing.EventSourcedEntityOne",
        persistenceId: "eventlogeventing-one",
      },
      {
        entityType: "cloudstate.eventsourced.EventSourced",
        serviceName: "cloudstate.tck.model.eventlogeventing.EventSourcedEntityTwo",
        persistenceId: "eventlogeventing-two",
      },
    ],
  });
}

/** One recorded entity stream. */
export interface RecordedStream {
  readonly messages: ValueEntityStreamIn[];
  closed: boolean;
  /** Set when the proxy half-closed its side. */
  ended: boolean;
}

/** Knobs that make the user function misbehave; tests set them directly. */
export interface Misbehaviour {
  /** The value-entity `fail` message that triggers each behaviour. */
  readonly triggers: {
    wrongCommandId: string;
    topLevelFailure: string;
    breakStream: string;
    noReply: string;
    updateWithoutValue: string;
    forwardToUnknown: string;
    sideEffectToUnknown: string;
  };
}

export const TRIGGERS: Misbehaviour["triggers"] = {
  wrongCommandId: "!wrong-command-id",
  topLevelFailure: "!top-level-failure",
  breakStream: "!break-stream",
  noReply: "!no-reply",
  updateWithoutValue: "!update-without-value",
  forwardToUnknown: "!forward-to-unknown",
  sideEffectToUnknown: "!side-effect-to-unknown",
};

/** A running model user function. */
export interface ModelUserFunction extends EventSourcedModelState {
  readonly port: number;
  readonly discoverCalls: ProxyInfo[];
  readonly reportedErrors: string[];
  readonly streams: RecordedStream[];
  /** Action calls seen: rpc name, the commands, and (unary calls) the deadline `grpc-timeout` gave, Infinity without one. */
  readonly actionCalls: { rpc: string; commands: ActionCommand[]; deadline?: number }[];
  /** Delay before every value-entity reply (ms). */
  replyDelayMs: number;
  spec: EntitySpec;
  close(): Promise<void>;
}

function packString(schema: typeof valueentity.ResponseSchema | typeof actionModel.ResponseSchema, message: string): Any {
  return anyPack(schema, create(schema, { message }));
}

/** Starts the model user function on 127.0.0.1:`port` (0: any free port), and also on the Unix socket `socket` when given. */
export async function startModelUserFunction(options: { port?: number; spec?: EntitySpec; socket?: string } = {}): Promise<ModelUserFunction> {
  const server = new grpc.Server();
  const uf: ModelUserFunction = {
    port: 0,
    discoverCalls: [],
    reportedErrors: [],
    streams: [],
    actionCalls: [],
    replyDelayMs: 0,
    esStreams: [],
    restartOnFailure: true,
    spec: options.spec ?? defaultSpec(),
    close: () =>
      new Promise((resolve) => {
        server.forceShutdown();
        resolve();
      }),
  };

  const discovery: Record<string, Handler> = {
    discover: ((call, callback) => {
      uf.discoverCalls.push(call.request as ProxyInfo);
      callback(null, uf.spec);
    }) as grpc.handleUnaryCall<unknown, unknown>,
    reportError: ((call, callback) => {
      uf.reportedErrors.push((call.request as { message: string }).message);
      callback(null, create(EmptySchema));
    }) as grpc.handleUnaryCall<unknown, unknown>,
  };
  server.addService(
    {
      discover: method("/cloudstate.EntityDiscovery/discover", ProxyInfoSchema, EntitySpecSchema, false, false),
      reportError: method("/cloudstate.EntityDiscovery/reportError", UserFunctionErrorSchema, EmptySchema, false, false),
    },
    discovery as grpc.UntypedServiceImplementation,
  );

  // Value entities: the TCK model semantics plus misbehaviour triggers.
  const valueEntityHandle: grpc.handleBidiStreamingCall<ValueEntityStreamIn, unknown> = (call) => {
    const recorded: RecordedStream = { messages: [], closed: false, ended: false };
    uf.streams.push(recorded);
    let state: string | undefined;
    let serviceName = "";
    call.on("data", (message: ValueEntityStreamIn) => {
      recorded.messages.push(message);
      const m = message.message;
      if (m.case === "init") {
        serviceName = m.value.serviceName;
        const value = m.value.state?.value;
        state = value ? anyUnpack(value, valueentity.PersistedSchema)?.value : undefined;
        return;
      }
      if (m.case !== "command") return;
      const command = m.value;
      const respond = () => {
        if (serviceName !== "cloudstate.tck.model.valueentity.ValueEntityTckModel") {
          call.write(
            create(ValueEntityStreamOutSchema, {
              message: {
                case: "reply",
                value: { commandId: command.id, clientAction: { action: { case: "reply", value: { payload: packString(valueentity.ResponseSchema, "") } } } },
              },
            }),
          );
          return;
        }
        const request = command.payload ? anyUnpack(command.payload, valueentity.RequestSchema) : undefined;
        let next = state;
        let stateAction: "update" | "delete" | undefined;
        const sideEffects = [];
        let forward: string | undefined;
        for (const a of request?.actions ?? []) {
          const act = a.action;
          if (act.case === "update") {
            next = act.value.value;
            stateAction = "update";
          } else if (act.case === "delete") {
            next = undefined;
            stateAction = "delete";
          } else if (act.case === "forward") {
            forward = act.value.id;
          } else if (act.case === "effect") {
            sideEffects.push(
              create(SideEffectSchema, {
                serviceName: "cloudstate.tck.model.valueentity.ValueEntityTwo",
                commandName: "Call",
                payload: anyPack(valueentity.RequestSchema, create(valueentity.RequestSchema, { id: act.value.id })),
                synchronous: act.value.synchronous,
              }),
            );
          } else if (act.case === "fail") {
            const text = act.value.message;
            if (text === TRIGGERS.wrongCommandId) {
              call.write(create(ValueEntityStreamOutSchema, { message: { case: "reply", value: { commandId: command.id + 100n } } }));
              return;
            }
            if (text === TRIGGERS.topLevelFailure) {
              call.write(
                create(ValueEntityStreamOutSchema, {
                  message: { case: "failure", value: { commandId: command.id, description: "boom from the user function" } },
                }),
              );
              return;
            }
            if (text === TRIGGERS.breakStream) {
              call.emit("error", Object.assign(new Error("user function broke the stream"), { code: grpc.status.INTERNAL }));
              return;
            }
            if (text === TRIGGERS.noReply) return;
            if (text === TRIGGERS.forwardToUnknown || text === TRIGGERS.sideEffectToUnknown) {
              const target = {
                serviceName: "no.such.Service",
                commandName: "Call",
                payload: anyPack(valueentity.RequestSchema, create(valueentity.RequestSchema, { id: "x" })),
              };
              call.write(
                create(ValueEntityStreamOutSchema, {
                  message: {
                    case: "reply",
                    value:
                      text === TRIGGERS.forwardToUnknown
                        ? { commandId: command.id, clientAction: { action: { case: "forward", value: target } } }
                        : {
                            commandId: command.id,
                            clientAction: { action: { case: "reply", value: { payload: packString(valueentity.ResponseSchema, "replied") } } },
                            sideEffects: [target],
                          },
                  },
                }),
              );
              return;
            }
            if (text === TRIGGERS.updateWithoutValue) {
              call.write(
                create(ValueEntityStreamOutSchema, {
                  message: { case: "reply", value: { commandId: command.id, stateAction: { action: { case: "update", value: {} } } } },
                }),
              );
              return;
            }
            call.write(
              create(ValueEntityStreamOutSchema, {
                message: {
                  case: "reply",
                  value: {
                    commandId: command.id,
                    clientAction: create(ClientActionSchema, {
                      action: { case: "failure", value: create(FailureSchema, { commandId: command.id, description: text }) },
                    }),
                  },
                },
              }),
            );
            return;
          }
        }
        state = next;
        const clientAction = forward
          ? create(ClientActionSchema, {
              action: {
                case: "forward",
                value: create(ForwardSchema, {
                  serviceName: "cloudstate.tck.model.valueentity.ValueEntityTwo",
                  commandName: "Call",
                  payload: anyPack(valueentity.RequestSchema, create(valueentity.RequestSchema, { id: forward })),
                }),
              },
            })
          : create(ClientActionSchema, {
              action: { case: "reply", value: create(ReplySchema, { payload: packString(valueentity.ResponseSchema, state ?? "") }) },
            });
        call.write(
          create(ValueEntityStreamOutSchema, {
            message: {
              case: "reply",
              value: {
                commandId: command.id,
                clientAction,
                sideEffects,
                ...(stateAction === "update"
                  ? {
                      stateAction: {
                        action: {
                          case: "update",
                          value: { value: anyPack(valueentity.PersistedSchema, create(valueentity.PersistedSchema, { value: state ?? "" })) },
                        },
                      },
                    }
                  : stateAction === "delete"
                    ? { stateAction: { action: { case: "delete", value: {} } } }
                    : {}),
              },
            },
          }),
        );
      };
      if (uf.replyDelayMs > 0) setTimeout(respond, uf.replyDelayMs);
      else respond();
    });
    call.on("end", () => {
      recorded.ended = true;
      call.end();
    });
    call.on("close", () => {
      recorded.closed = true;
    });
    call.on("error", () => {
      recorded.closed = true;
    });
  };
  server.addService({ handle: method("/cloudstate.valueentity.ValueEntity/handle", ValueEntityStreamInSchema, ValueEntityStreamOutSchema, true, true) }, {
    handle: valueEntityHandle as Handler,
  } as grpc.UntypedServiceImplementation);

  // Actions: the TCK model semantics (each request group yields one response).
  const responseFor = (steps: actionModel.ProcessStep[]) => {
    const sideEffects = [];
    let response: MessageShape<typeof ActionResponseSchema>["response"] = { case: undefined };
    for (const step of steps) {
      const s = step.step;
      if (s.case === "reply") response = { case: "reply", value: create(ReplySchema, { payload: packString(actionModel.ResponseSchema, s.value.message) }) };
      else if (s.case === "forward")
        response = {
          case: "forward",
          value: create(ForwardSchema, {
            serviceName: "cloudstate.tck.model.action.ActionTwo",
            commandName: "Call",
            payload: anyPack(actionModel.OtherRequestSchema, create(actionModel.OtherRequestSchema, { id: s.value.id })),
          }),
        };
      else if (s.case === "fail") response = { case: "failure", value: create(FailureSchema, { description: s.value.message }) };
      else if (s.case === "effect")
        sideEffects.push(
          create(SideEffectSchema, {
            serviceName: "cloudstate.tck.model.action.ActionTwo",
            commandName: "Call",
            payload: anyPack(actionModel.OtherRequestSchema, create(actionModel.OtherRequestSchema, { id: s.value.id })),
            synchronous: s.value.synchronous,
          }),
        );
    }
    return create(ActionResponseSchema, { response, sideEffects });
  };
  const subjectOf = (command: ActionCommand) => {
    const entry = command.metadata?.entries.find((e) => e.key === "ce-subject");
    return entry?.value.case === "stringValue" ? entry.value.value : "";
  };
  const subscriberStep = (command: ActionCommand, step: eventlogeventing.ProcessStep) => {
    const id = subjectOf(command);
    if (step.step.case === "forward") {
      return create(ActionResponseSchema, {
        response: {
          case: "forward",
          value: create(ForwardSchema, {
            serviceName: "cloudstate.tck.model.eventlogeventing.EventLogSubscriberModel",
            commandName: "Effect",
            payload: anyPack(eventlogeventing.EffectRequestSchema, create(eventlogeventing.EffectRequestSchema, { id, message: step.step.value.message })),
            ...(command.metadata ? { metadata: command.metadata } : {}),
          }),
        },
      });
    }
    const message = step.step.case === "reply" ? step.step.value.message : "";
    return create(ActionResponseSchema, {
      response: {
        case: "reply",
        value: create(ReplySchema, { payload: anyPack(eventlogeventing.ResponseSchema, create(eventlogeventing.ResponseSchema, { id, message })) }),
      },
    });
  };
  const subscriberResponse = (command: ActionCommand) => {
    const id = subjectOf(command);
    if (command.name === "Effect" && command.payload) {
      const request = anyUnpack(command.payload, eventlogeventing.EffectRequestSchema);
      return create(ActionResponseSchema, {
        response: {
          case: "reply",
          value: create(ReplySchema, {
            payload: anyPack(eventlogeventing.ResponseSchema, create(eventlogeventing.ResponseSchema, { id, message: request?.message ?? "" })),
          }),
        },
      });
    }
    if (command.name === "ProcessAnyEvent" && command.payload) {
      // JSON event: the JSON text is in bytes field 1 of the Any's value.
      const bytes = command.payload.value;
      let at = 1;
      let length = 0;
      for (let shift = 0; ; shift += 7) {
        const b = bytes[at++] ?? 0;
        length |= (b & 0x7f) << shift;
        if (b < 0x80) break;
      }
      const json = JSON.parse(new TextDecoder().decode(bytes.subarray(at, at + length))) as { message?: string };
      return create(ActionResponseSchema, {
        response: {
          case: "reply",
          value: create(ReplySchema, {
            payload: anyPack(eventlogeventing.ResponseSchema, create(eventlogeventing.ResponseSchema, { id, message: json.message ?? "" })),
          }),
        },
      });
    }
    const one = command.payload ? anyUnpack(command.payload, eventlogeventing.EventOneSchema) : undefined;
    return subscriberStep(command, one?.step ?? create(eventlogeventing.ProcessStepSchema));
  };
  const decodeRequest = (payload: Any | undefined) => (payload ? anyUnpack(payload, actionModel.RequestSchema) : undefined);
  const actionHandlers: Record<string, Handler> = {
    handleUnary: ((call, callback) => {
      const command = call.request as ActionCommand;
      const deadline = call.getDeadline();
      uf.actionCalls.push({ rpc: "handleUnary", commands: [command], deadline: deadline instanceof Date ? deadline.getTime() : deadline });
      if (command.serviceName.endsWith("EventLogSubscriberModel")) {
        callback(null, subscriberResponse(command));
        return;
      }
      if (command.serviceName.endsWith("ActionTwo")) {
        callback(
          null,
          create(ActionResponseSchema, {
            response: { case: "reply", value: create(ReplySchema, { payload: anyPack(actionModel.ResponseSchema, create(actionModel.ResponseSchema)) }) },
          }),
        );
        return;
      }
      const request = decodeRequest(command.payload);
      const steps = (request?.groups ?? []).flatMap((g) => g.steps);
      callback(null, responseFor(steps));
    }) as grpc.handleUnaryCall<unknown, unknown>,
    handleStreamedIn: ((call, callback) => {
      const record = { rpc: "handleStreamedIn", commands: [] as ActionCommand[] };
      uf.actionCalls.push(record);
      const steps: actionModel.ProcessStep[] = [];
      call.on("data", (command: ActionCommand) => {
        record.commands.push(command);
        for (const g of decodeRequest(command.payload)?.groups ?? []) steps.push(...g.steps);
      });
      call.on("end", () => callback(null, responseFor(steps)));
    }) as grpc.handleClientStreamingCall<unknown, unknown>,
    handleStreamedOut: ((call) => {
      const command = call.request as ActionCommand;
      uf.actionCalls.push({ rpc: "handleStreamedOut", commands: [command] });
      if (command.serviceName.endsWith("EventLogSubscriberModel")) {
        const two = command.payload ? anyUnpack(command.payload, eventlogeventing.EventTwoSchema) : undefined;
        for (const step of two?.step ?? []) call.write(subscriberStep(command, step));
        call.end();
        return;
      }
      for (const g of decodeRequest(command.payload)?.groups ?? []) call.write(responseFor(g.steps));
      call.end();
    }) as grpc.handleServerStreamingCall<unknown, unknown>,
    handleStreamed: ((call) => {
      const record = { rpc: "handleStreamed", commands: [] as ActionCommand[] };
      uf.actionCalls.push(record);
      call.on("data", (command: ActionCommand) => {
        record.commands.push(command);
        for (const g of decodeRequest(command.payload)?.groups ?? []) call.write(responseFor(g.steps));
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
    actionHandlers as grpc.UntypedServiceImplementation,
  );

  addEventSourcedModel(server, uf);

  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${options.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  (uf as { port: number }).port = port;
  const socket = options.socket;
  if (socket !== undefined) {
    await new Promise<number>((resolve, reject) =>
      server.bindAsync(`unix:${socket}`, grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
  }
  return uf;
}

export { AnySchema };
