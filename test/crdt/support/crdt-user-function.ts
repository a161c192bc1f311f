/**
 * A CRDT user function written directly against the Cloudstate protocol (no SDK),
 * serving the TCK CRDT model (cloudstate.tck.model.crdt): CrdtTckModel (Process,
 * ProcessStreamed), CrdtTwo and CrdtConfigured (100 ms passivation). As in the TCK
 * model implementations, the entity id's prefix before the first `-` picks the CRDT
 * type (`GCounter-1`), and so do ORMap keys for their values.
 *
 * Like a language support, it keeps only the current value of its CRDT and sends the
 * proxy one coalesced delta per command (the difference since the last delta). Tests
 * can make it misbehave through `Fail` messages (see {@link CRDT_TRIGGERS}), and it
 * records what it received: discover calls, reportError messages, entity streams.
 *
 * Fixture extension beyond the TCK model: the `effects` of a StreamedRequest are also
 * attached to the `stream_cancelled_response`, so tests can see those side effects run.
 */
import { create, type DescFile, type DescMessage, equals, fromBinary, type MessageInitShape, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { type Any, anyPack, anyUnpack, EmptySchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import * as grpc from "@grpc/grpc-js";
import {
  ClientActionSchema,
  type CrdtDelta,
  CrdtDeltaSchema,
  type CrdtStreamIn,
  CrdtStreamInSchema,
  type CrdtStreamOut,
  CrdtStreamOutSchema,
  type EntitySpec,
  EntitySpecSchema,
  FlagDeltaSchema,
  GCounterDeltaSchema,
  GSetDeltaSchema,
  LWWRegisterDeltaSchema,
  type ORMapEntryDelta,
  ORMapDeltaSchema,
  ORMapEntryDeltaSchema,
  ORSetDeltaSchema,
  PNCounterDeltaSchema,
  type ProxyInfo,
  ProxyInfoSchema,
  type SideEffect,
  SideEffectSchema,
  UserFunctionErrorSchema,
  VoteDeltaSchema,
} from "@switchboard/protocol";
import { crdt as tck } from "@switchboard/protocol/tck";

/** The services of the TCK CRDT model. */
export const CRDT_SERVICES = {
  model: "cloudstate.tck.model.crdt.CrdtTckModel",
  two: "cloudstate.tck.model.crdt.CrdtTwo",
  configured: "cloudstate.tck.model.crdt.CrdtConfigured",
} as const;

/** `Fail` messages that make the user function misbehave instead of failing the command. */
export const CRDT_TRIGGERS = {
  /** Reply with a delta of another CRDT type than the entity's. */
  wrongDeltaType: "!wrong-delta-type",
  /** Reply with an ORMap delta that updates a key the map does not hold. */
  ormapMissingKey: "!ormap-missing-key",
  /** Reply with `streamed = true` to a command that was not streamed. */
  streamedReply: "!streamed-reply",
  /** Answer with a top-level `failure` carrying the command id. */
  topLevelFailure: "!top-level-failure",
  /** Send a top-level `failure` with command id 0, then reply normally. */
  failureWithoutCommand: "!failure-without-command",
  /** Send a streamed message for an unknown command id, then reply normally. */
  unknownStreamedMessage: "!unknown-streamed-message",
  /** Never answer. */
  noReply: "!no-reply",
  /** `!slow:<ms>`: apply the actions now, send the reply after that many ms. */
  slow: "!slow:",
} as const;

/** One entity stream as the user function saw it. */
export interface RecordedCrdtStream {
  readonly serviceName: string;
  readonly entityId: string;
  readonly messages: CrdtStreamIn[];
  /** What the user function sent on it. */
  readonly sent: CrdtStreamOut[];
  /** The proxy half-closed its side. */
  ended: boolean;
  /** The call is over (either side). */
  closed: boolean;
}

/** A running CRDT user function. */
export interface CrdtUserFunction {
  readonly port: number;
  readonly discoverCalls: ProxyInfo[];
  readonly reportedErrors: string[];
  readonly streams: RecordedCrdtStream[];
  /** Streams of one entity of one service (default: CrdtTckModel), oldest first. */
  streamsOf(entityId: string, service?: string): RecordedCrdtStream[];
  close(): Promise<void>;
}

function descriptorSetOf(files: readonly DescFile[]): Uint8Array {
  const seen = new Map<string, DescFile>();
  const visit = (file: DescFile) => {
    if (seen.has(file.proto.name)) return;
    for (const dep of file.dependencies) visit(dep);
    seen.set(file.proto.name, file);
  };
  for (const f of files) visit(f);
  return toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file: [...seen.values()].map((f) => f.proto) }));
}

/** The EntitySpec: the three CRDT services, CrdtConfigured with a `configuredTimeoutMs` passivation strategy. */
export function crdtSpec(options: { configuredTimeoutMs?: number } = {}): EntitySpec {
  const entityType = "cloudstate.crdt.Crdt";
  return create(EntitySpecSchema, {
    proto: descriptorSetOf([tck.file_cloudstate_tck_model_crdt]),
    serviceInfo: {
      serviceName: "crdt-user-function",
      supportLibraryName: "switchboard-test-fixture",
      supportLibraryVersion: "0.0.0",
      protocolMajorVersion: 0,
      protocolMinorVersion: 2,
    },
    entities: [
      { entityType, serviceName: CRDT_SERVICES.model, persistenceId: "crdt-tck-model" },
      { entityType, serviceName: CRDT_SERVICES.two, persistenceId: "crdt-tck-model-two" },
      {
        entityType,
        serviceName: CRDT_SERVICES.configured,
        persistenceId: "crdt-configured",
        passivationStrategy: { strategy: { case: "timeout", value: { timeout: BigInt(options.configuredTimeoutMs ?? 100) } } },
      },
    ],
  });
}

// ---------------------------------------------------------------------------------------------
// Strings as Cloudstate primitive Anys (p.cloudstate.io/string: field 1; "" is empty bytes).

const STRING_URL = "p.cloudstate.io/string";

/** Packs a string as the Cloudstate primitive `p.cloudstate.io/string`. */
export function packString(text: string): Any {
  const value = text === "" ? new Uint8Array() : new BinaryWriter().tag(1, WireType.LengthDelimited).string(text).finish();
  return { $typeName: "google.protobuf.Any", typeUrl: STRING_URL, value };
}

/** Reads a `p.cloudstate.io/string` Any. */
export function unpackString(any: Any | undefined): string {
  if (any === undefined || any.value.length === 0) return "";
  const reader = new BinaryReader(any.value);
  let text = "";
  while (reader.pos < reader.len) {
    const [no, wire] = reader.tag();
    if (no === 1 && wire === WireType.LengthDelimited) text = reader.string();
    else reader.skip(wire);
  }
  return text;
}

// ---------------------------------------------------------------------------------------------
// The user function's CRDT values: the current value, plus what changed since the last delta.

type Kind = "gcounter" | "pncounter" | "gset" | "orset" | "lwwregister" | "flag" | "ormap" | "vote";

const KIND_BY_PREFIX: Record<string, Kind> = {
  GCounter: "gcounter",
  PNCounter: "pncounter",
  GSet: "gset",
  ORSet: "orset",
  LWWRegister: "lwwregister",
  Flag: "flag",
  ORMap: "ormap",
  Vote: "vote",
};

/** The CRDT type an entity id or ORMap key selects, by its prefix before `-`. */
export function kindOfId(id: string): Kind | undefined {
  return KIND_BY_PREFIX[id.split("-")[0] ?? ""];
}

const delta = (d: CrdtDelta["delta"]): CrdtDelta => create(CrdtDeltaSchema, { delta: d });

interface UfCrdt {
  readonly kind: Kind;
  /** A delta from the proxy (init or replicated). */
  receive(d: CrdtDelta): void;
  /** The local change since the last call, or undefined if none. */
  takeDelta(): CrdtDelta | undefined;
  /** The whole value as a delta from empty (a new ORMap entry). */
  full(): CrdtDelta;
  /** Applies a TCK model update. */
  update(u: tck.Update): void;
  state(): tck.State;
}

function newCrdt(kind: Kind): UfCrdt {
  switch (kind) {
    case "gcounter":
    case "pncounter": {
      let value = 0n;
      let pending = 0n;
      const make = (n: bigint) =>
        kind === "gcounter"
          ? delta({ case: "gcounter", value: create(GCounterDeltaSchema, { increment: n }) })
          : delta({ case: "pncounter", value: create(PNCounterDeltaSchema, { change: n }) });
      return {
        kind,
        receive(d) {
          if (d.delta.case === "gcounter") value += d.delta.value.increment;
          else if (d.delta.case === "pncounter") value += d.delta.value.change;
        },
        takeDelta() {
          const p = pending;
          pending = 0n;
          return p === 0n ? undefined : make(p);
        },
        full: () => make(value),
        update(u) {
          const n = u.update.case === "gcounter" ? u.update.value.increment : u.update.case === "pncounter" ? u.update.value.change : 0n;
          value += n;
          pending += n;
        },
        state: () =>
          create(tck.StateSchema, {
            value: kind === "gcounter" ? { case: "gcounter", value: { value } } : { case: "pncounter", value: { value } },
          }),
      };
    }
    case "gset":
    case "orset": {
      let current = new Set<string>();
      let base = new Set<string>();
      const make = (cleared: boolean, removed: string[], added: string[]) =>
        kind === "gset"
          ? delta({ case: "gset", value: create(GSetDeltaSchema, { added: added.map(packString) }) })
          : delta({ case: "orset", value: create(ORSetDeltaSchema, { cleared, removed: removed.map(packString), added: added.map(packString) }) });
      return {
        kind,
        receive(d) {
          for (const set of [current, base]) {
            if (d.delta.case === "gset") for (const a of d.delta.value.added) set.add(unpackString(a));
            if (d.delta.case === "orset") {
              if (d.delta.value.cleared) set.clear();
              for (const r of d.delta.value.removed) set.delete(unpackString(r));
              for (const a of d.delta.value.added) set.add(unpackString(a));
            }
          }
        },
        takeDelta() {
          const removed = [...base].filter((e) => !current.has(e));
          const added = [...current].filter((e) => !base.has(e));
          const cleared = current.size === 0 && base.size > 0;
          base = new Set(current);
          if (removed.length === 0 && added.length === 0) return undefined;
          return cleared ? make(true, [], []) : make(false, removed.sort(), added.sort());
        },
        full: () => make(false, [], [...current].sort()),
        update(u) {
          if (u.update.case === "gset") current.add(u.update.value.add);
          if (u.update.case === "orset") {
            const a = u.update.value.action;
            if (a.case === "add") current.add(a.value);
            else if (a.case === "remove") current.delete(a.value);
            else if (a.case === "clear" && a.value) current = new Set();
          }
        },
        state: () =>
          create(tck.StateSchema, {
            value: kind === "gset" ? { case: "gset", value: { elements: [...current].sort() } } : { case: "orset", value: { elements: [...current].sort() } },
          }),
      };
    }
    case "lwwregister": {
      let value = "";
      let pending: CrdtDelta | undefined;
      return {
        kind,
        receive(d) {
          if (d.delta.case === "lwwregister") value = unpackString(d.delta.value.value);
        },
        takeDelta() {
          const p = pending;
          pending = undefined;
          return p;
        },
        full: () => delta({ case: "lwwregister", value: create(LWWRegisterDeltaSchema, { value: packString(value) }) }),
        update(u) {
          if (u.update.case !== "lwwregister") return;
          value = u.update.value.value;
          const clock = u.update.value.clock;
          pending = delta({
            case: "lwwregister",
            value: create(LWWRegisterDeltaSchema, {
              value: packString(value),
              clock: Number(clock?.clockType ?? 0),
              customClockValue: clock?.customClockValue ?? 0n,
            }),
          });
        },
        state: () => create(tck.StateSchema, { value: { case: "lwwregister", value: { value } } }),
      };
    }
    case "flag": {
      let value = false;
      let pending = false;
      return {
        kind,
        receive(d) {
          if (d.delta.case === "flag") value ||= d.delta.value.value;
        },
        takeDelta() {
          const p = pending;
          pending = false;
          return p ? delta({ case: "flag", value: create(FlagDeltaSchema, { value: true }) }) : undefined;
        },
        full: () => delta({ case: "flag", value: create(FlagDeltaSchema, { value }) }),
        update() {
          if (!value) pending = true;
          value = true;
        },
        state: () => create(tck.StateSchema, { value: { case: "flag", value: { value } } }),
      };
    }
    case "vote": {
      let selfVote = false;
      let votesFor = 0;
      let totalVoters = 1;
      let pending = false;
      return {
        kind,
        receive(d) {
          if (d.delta.case !== "vote") return;
          ({ selfVote, votesFor, totalVoters } = d.delta.value);
        },
        takeDelta() {
          const p = pending;
          pending = false;
          return p ? delta({ case: "vote", value: create(VoteDeltaSchema, { selfVote }) }) : undefined;
        },
        full: () => delta({ case: "vote", value: create(VoteDeltaSchema, { selfVote }) }),
        update(u) {
          if (u.update.case !== "vote" || u.update.value.selfVote === selfVote) return;
          selfVote = u.update.value.selfVote;
          votesFor += selfVote ? 1 : -1;
          pending = !pending;
        },
        state: () => create(tck.StateSchema, { value: { case: "vote", value: { selfVote, votesFor, totalVoters } } }),
      };
    }
    case "ormap": {
      let current = new Map<string, UfCrdt>();
      let base = new Map<string, UfCrdt>();
      const createFor = (key: string, d?: CrdtDelta): UfCrdt => {
        const k = kindOfId(key) ?? (d?.delta.case as Kind | undefined);
        if (k === undefined) throw new Error(`no CRDT type for ORMap key ${key}`);
        return newCrdt(k);
      };
      return {
        kind,
        receive(d) {
          if (d.delta.case !== "ormap") return;
          const m = d.delta.value;
          if (m.cleared) current.clear();
          for (const r of m.removed) current.delete(unpackString(r));
          for (const u of m.updated) if (u.delta) current.get(unpackString(u.key))?.receive(u.delta);
          for (const a of m.added) {
            if (!a.delta) continue;
            const value = createFor(unpackString(a.key), a.delta);
            value.receive(a.delta);
            current.set(unpackString(a.key), value);
          }
          base = new Map(current);
        },
        takeDelta() {
          const removed: string[] = [];
          const updated: ORMapEntryDelta[] = [];
          const added: ORMapEntryDelta[] = [];
          for (const [key, value] of base) if (current.get(key) !== value) removed.push(key);
          for (const [key, value] of current) {
            if (base.get(key) !== value) {
              value.takeDelta();
              added.push(create(ORMapEntryDeltaSchema, { key: packString(key), delta: value.full() }));
            } else {
              const d = value.takeDelta();
              if (d !== undefined) updated.push(create(ORMapEntryDeltaSchema, { key: packString(key), delta: d }));
            }
          }
          const cleared = current.size === 0 && base.size > 0;
          base = new Map(current);
          if (removed.length + updated.length + added.length === 0) return undefined;
          return delta({
            case: "ormap",
            value: create(ORMapDeltaSchema, cleared ? { cleared } : { removed: removed.sort().map(packString), updated, added }),
          });
        },
        full: () =>
          delta({
            case: "ormap",
            value: create(ORMapDeltaSchema, {
              added: [...current].map(([key, value]) => create(ORMapEntryDeltaSchema, { key: packString(key), delta: value.full() })),
            }),
          }),
        update(u) {
          if (u.update.case !== "ormap") return;
          const a = u.update.value.action;
          if (a.case === "add") {
            if (!current.has(a.value)) current.set(a.value, createFor(a.value));
          } else if (a.case === "update") {
            let value = current.get(a.value.key);
            if (value === undefined) current.set(a.value.key, (value = createFor(a.value.key)));
            if (a.value.update) value.update(a.value.update);
          } else if (a.case === "remove") current.delete(a.value);
          else if (a.case === "clear" && a.value) current = new Map();
        },
        state: () =>
          create(tck.StateSchema, {
            value: {
              case: "ormap",
              value: { entries: [...current.keys()].sort().map((key) => ({ key, value: current.get(key)?.state() })) },
            },
          }),
      };
    }
  }
}

// ---------------------------------------------------------------------------------------------

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

const responseOf = (state: tck.State | undefined) => anyPack(tck.ResponseSchema, create(tck.ResponseSchema, state === undefined ? {} : { state }));
const effectOf = (effect: { id: string; synchronous: boolean }): SideEffect =>
  create(SideEffectSchema, {
    serviceName: CRDT_SERVICES.two,
    commandName: "Call",
    payload: anyPack(tck.RequestSchema, create(tck.RequestSchema, { id: effect.id })),
    synchronous: effect.synchronous,
  });

/** Starts the CRDT user function on 127.0.0.1:`port` (0: any free port). */
export async function startCrdtUserFunction(options: { port?: number; spec?: EntitySpec } = {}): Promise<CrdtUserFunction> {
  const server = new grpc.Server();
  const spec = options.spec ?? crdtSpec();
  const uf: CrdtUserFunction = {
    port: 0,
    discoverCalls: [],
    reportedErrors: [],
    streams: [],
    streamsOf(entityId, service = CRDT_SERVICES.model) {
      return uf.streams.filter((s) => s.entityId === entityId && s.serviceName === service);
    },
    close: () =>
      new Promise((resolve) => {
        server.forceShutdown();
        resolve();
      }),
  };

  server.addService(
    {
      discover: method("/cloudstate.EntityDiscovery/discover", ProxyInfoSchema, EntitySpecSchema, false, false),
      reportError: method("/cloudstate.EntityDiscovery/reportError", UserFunctionErrorSchema, EmptySchema, false, false),
    },
    {
      discover: ((call, callback) => {
        uf.discoverCalls.push(call.request as ProxyInfo);
        callback(null, spec);
      }) as grpc.handleUnaryCall<unknown, unknown>,
      reportError: ((call, callback) => {
        uf.reportedErrors.push((call.request as { message: string }).message);
        callback(null, create(EmptySchema));
      }) as grpc.handleUnaryCall<unknown, unknown>,
    } as grpc.UntypedServiceImplementation,
  );

  const handle: grpc.handleBidiStreamingCall<CrdtStreamIn, CrdtStreamOut> = (call) => {
    const recorded: RecordedCrdtStream = { serviceName: "", entityId: "", messages: [], sent: [], ended: false, closed: false };
    uf.streams.push(recorded);
    let value: UfCrdt | undefined;
    /** Open streamed calls (ProcessStreamed) by command id. */
    const subscriptions = new Map<bigint, tck.StreamedRequest>();
    const send = (message: NonNullable<MessageInitShape<typeof CrdtStreamOutSchema>["message"]>) => {
      const out = create(CrdtStreamOutSchema, { message });
      recorded.sent.push(out);
      if (!recorded.closed) call.write(out);
    };
    const crdt = (): UfCrdt => {
      if (value === undefined) {
        const kind = kindOfId(recorded.entityId);
        if (kind === undefined) throw new Error(`no CRDT type for entity ${recorded.entityId}`);
        value = newCrdt(kind);
      }
      return value;
    };
    /** Pushes the new state to every open streamed call but `except`. */
    const notify = (except?: bigint) => {
      for (const [id, request] of subscriptions) {
        if (id === except) continue;
        const state = crdt().state();
        const end = request.endState !== undefined && equals(tck.StateSchema, state, request.endState);
        if (end) subscriptions.delete(id);
        send({
          case: "streamedMessage",
          value: {
            commandId: id,
            ...(request.empty ? {} : { clientAction: create(ClientActionSchema, { action: { case: "reply", value: { payload: responseOf(state) } } }) }),
            sideEffects: request.effects.map(effectOf),
            endStream: end,
          },
        });
      }
    };
    const stateAction = (d: CrdtDelta | undefined, writeConsistency = 0) =>
      d === undefined ? {} : { stateAction: { action: { case: "update" as const, value: d }, writeConsistency } };

    const process = (id: bigint, name: string, payload: Any | undefined, streamed: boolean) => {
      const serviceName = recorded.serviceName;
      if (serviceName !== CRDT_SERVICES.model) {
        const request = payload ? anyUnpack(payload, tck.RequestSchema) : undefined;
        const deleting = request?.actions.some((a) => a.action.case === "delete") === true;
        send({
          case: "reply",
          value: {
            commandId: id,
            clientAction: { action: { case: "reply", value: { payload: responseOf(undefined) } } },
            ...(deleting ? { stateAction: { action: { case: "delete", value: {} } } } : {}),
          },
        });
        return;
      }
      if (name === "ProcessStreamed") {
        const request = payload ? anyUnpack(payload, tck.StreamedRequestSchema) : undefined;
        if (request === undefined) throw new Error("bad StreamedRequest");
        if (request.initialUpdate) crdt().update(request.initialUpdate);
        const d = crdt().takeDelta();
        if (streamed) subscriptions.set(id, request);
        send({
          case: "reply",
          value: {
            commandId: id,
            streamed,
            ...(request.empty ? {} : { clientAction: { action: { case: "reply", value: { payload: responseOf(crdt().state()) } } } }),
            ...stateAction(d),
          },
        });
        if (d !== undefined) notify(id);
        return;
      }
      const request = payload ? anyUnpack(payload, tck.RequestSchema) : undefined;
      if (request === undefined) throw new Error("bad Request");
      const fail = request.actions.find((a) => a.action.case === "fail")?.action;
      const text = fail?.case === "fail" ? fail.value.message : undefined;
      let delay = 0;
      if (text?.startsWith(CRDT_TRIGGERS.slow)) delay = Number(text.slice(CRDT_TRIGGERS.slow.length));
      else if (text !== undefined) {
        if (misbehave(id, text)) return;
        send({ case: "reply", value: { commandId: id, clientAction: { action: { case: "failure", value: { commandId: id, description: text } } } } });
        return;
      }
      let writeConsistency = 0;
      let deleting = false;
      let forward: string | undefined;
      const sideEffects: SideEffect[] = [];
      for (const { action } of request.actions) {
        if (action.case === "update") {
          crdt().update(action.value);
          writeConsistency = action.value.writeConsistency;
        } else if (action.case === "delete") deleting = true;
        else if (action.case === "forward") forward = action.value.id;
        else if (action.case === "effect") sideEffects.push(effectOf(action.value));
      }
      const d = crdt().takeDelta();
      const clientAction = forward
        ? create(ClientActionSchema, {
            action: {
              case: "forward",
              value: { serviceName: CRDT_SERVICES.two, commandName: "Call", payload: anyPack(tck.RequestSchema, create(tck.RequestSchema, { id: forward })) },
            },
          })
        : create(ClientActionSchema, { action: { case: "reply", value: { payload: responseOf(crdt().state()) } } });
      const reply = () => {
        send({
          case: "reply",
          value: {
            commandId: id,
            clientAction,
            sideEffects,
            ...(deleting ? { stateAction: { action: { case: "delete", value: {} }, writeConsistency } } : stateAction(d, writeConsistency)),
          },
        });
        if (d !== undefined && !deleting) notify();
      };
      if (delay > 0) setTimeout(reply, delay);
      else reply();
    };

    /** Handles a trigger; false when `text` is a plain failure message. */
    const misbehave = (id: bigint, text: string): boolean => {
      const state = () => ({ clientAction: create(ClientActionSchema, { action: { case: "reply", value: { payload: responseOf(crdt().state()) } } }) });
      switch (text) {
        case CRDT_TRIGGERS.wrongDeltaType: {
          const wrong =
            crdt().kind === "flag"
              ? delta({ case: "gcounter", value: create(GCounterDeltaSchema, { increment: 1n }) })
              : delta({ case: "flag", value: create(FlagDeltaSchema, { value: true }) });
          send({ case: "reply", value: { commandId: id, ...state(), ...stateAction(wrong) } });
          return true;
        }
        case CRDT_TRIGGERS.ormapMissingKey: {
          const bad = delta({
            case: "ormap",
            value: create(ORMapDeltaSchema, {
              updated: [
                create(ORMapEntryDeltaSchema, {
                  key: packString("GCounter-missing"),
                  delta: delta({ case: "gcounter", value: create(GCounterDeltaSchema, { increment: 1n }) }),
                }),
              ],
            }),
          });
          send({ case: "reply", value: { commandId: id, ...state(), ...stateAction(bad) } });
          return true;
        }
        case CRDT_TRIGGERS.streamedReply:
          send({ case: "reply", value: { commandId: id, streamed: true, ...state() } });
          return true;
        case CRDT_TRIGGERS.topLevelFailure:
          send({ case: "failure", value: { commandId: id, description: "boom from the user function" } });
          return true;
        case CRDT_TRIGGERS.failureWithoutCommand:
          send({ case: "failure", value: { commandId: 0n, description: "a failure for no command" } });
          send({ case: "reply", value: { commandId: id, ...state() } });
          return true;
        case CRDT_TRIGGERS.unknownStreamedMessage:
          send({ case: "streamedMessage", value: { commandId: 999n, ...state() } });
          send({ case: "reply", value: { commandId: id, ...state() } });
          return true;
        case CRDT_TRIGGERS.noReply:
          return true;
        default:
          return false;
      }
    };

    call.on("data", (message: CrdtStreamIn) => {
      recorded.messages.push(message);
      const m = message.message;
      switch (m.case) {
        case "init": {
          (recorded as { serviceName: string }).serviceName = m.value.serviceName;
          (recorded as { entityId: string }).entityId = m.value.entityId;
          if (m.value.delta && m.value.serviceName === CRDT_SERVICES.model) crdt().receive(m.value.delta);
          return;
        }
        case "delta":
          crdt().receive(m.value);
          notify();
          return;
        case "delete":
          value = undefined;
          return;
        case "command":
          process(m.value.id, m.value.name, m.value.payload, m.value.streamed);
          return;
        case "streamCancelled": {
          const request = subscriptions.get(m.value.id);
          subscriptions.delete(m.value.id);
          if (request?.cancelUpdate) crdt().update(request.cancelUpdate);
          const d = value?.takeDelta();
          send({ case: "streamCancelledResponse", value: { commandId: m.value.id, sideEffects: (request?.effects ?? []).map(effectOf), ...stateAction(d) } });
          if (d !== undefined) notify();
          return;
        }
        default:
          return;
      }
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
    call.on("cancelled", () => {
      recorded.closed = true;
    });
  };
  server.addService({ handle: method("/cloudstate.crdt.Crdt/handle", CrdtStreamInSchema, CrdtStreamOutSchema, true, true) }, {
    handle: handle as grpc.handleBidiStreamingCall<unknown, unknown>,
  } as grpc.UntypedServiceImplementation);

  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${options.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  (uf as { port: number }).port = port;
  return uf;
}
