/**
 * `crdtEntity()`: the definition of a Cloudstate CRDT entity, whose state is a conflict-free
 * replicated data type held by the proxy.
 *
 * @module
 */
import type { DescMethod, DescService, MessageShape } from "@bufbuild/protobuf";
import type { CrdtContext, StreamedCrdtContext } from "../../context/context.js";
import type { Crdt, CrdtKind } from "../../crdt/crdt.js";
import { CRDT_KINDS, implOf } from "../../crdt/crdt.js";
import type { CrdtOfKind } from "../../crdt/create-crdt.js";
import { createCrdt } from "../../crdt/create-crdt.js";
import type { HandlerResult, HandlerTable, MaybePromise } from "../shared/handler-types.js";
import { checkHandlers } from "../shared/handler-types.js";
import { checkEntityMethods, checkPassivationTimeout } from "../shared/validate.js";

/**
 * Handler of one CRDT entity method. A server-streaming method's handler gets a
 * {@link StreamedCrdtContext} and answers with the call's first message (or nothing).
 */
export type CrdtHandler<M extends DescMethod, C extends Crdt> = (
  request: MessageShape<M["input"]>,
  ctx: M["methodKind"] extends "server_streaming" ? StreamedCrdtContext<C, M["output"]> : CrdtContext<C>,
  // biome-ignore lint/suspicious/noConfusingVoidType: lets a handler end without `return`
) => MaybePromise<HandlerResult<M["output"]> | void>;

/** One handler per method of `S`, keyed by the method's local name. */
export type CrdtHandlers<S extends DescService, C extends Crdt> = {
  [K in keyof S["method"]]: CrdtHandler<S["method"][K], C>;
};

/** What the `crdt` option takes: a CRDT type name, or a function making the entity's CRDT. */
export type CrdtOption = CrdtKind | ((entityId: string) => Crdt);

/** The CRDT type a `crdt` option gives. */
export type CrdtOf<O extends CrdtOption> = O extends CrdtKind ? CrdtOfKind[O] : O extends (entityId: string) => infer C ? (C extends Crdt ? C : never) : never;

/** Options of {@link crdtEntity}. */
export interface CrdtEntityOptions<S extends DescService, O extends CrdtOption> {
  /** The generated service descriptor. Methods must be unary or server-streaming. */
  service: S;
  /**
   * The entity's CRDT: a type name (`"PNCounter"`, `"ORSet"`…, whose elements are raw `Any`s), or
   * a function making a new one for an entity id, e.g. `() => createORSet(codecs.string)` for
   * typed elements. It is called when an entity first needs its CRDT and the proxy has none; an
   * `init` or delta from the proxy must be of the same type.
   */
  crdt: O;
  /**
   * The namespace the proxy keeps this entity's CRDTs under (with the entity id). Defaults to the
   * service's full name, so two services never share CRDTs.
   */
  persistenceId?: string;
  /**
   * Idle time after which the proxy passivates (closes) an entity, in milliseconds; sent as the
   * entity's passivation strategy. The proxy's default applies when absent.
   */
  passivationTimeoutMs?: number;
  /** One handler per method, keyed by local name; the types follow from `service` and `crdt`. */
  handlers: NoInfer<CrdtHandlers<S, CrdtOf<O>>>;
}

/** A CRDT entity ready to be served: pass it to `createServer({ entities })` or `serve()`. */
export interface CrdtEntityDefinition<S extends DescService = DescService, C extends Crdt = Crdt> {
  readonly kind: "crdt";
  readonly service: S;
  readonly persistenceId: string;
  readonly passivationTimeoutMs: number | undefined;
  /** Makes a new CRDT for an entity id. */
  readonly createCrdt: (entityId: string) => C;
  /** @internal */
  readonly handlers: HandlerTable;
}

/**
 * Defines a Cloudstate CRDT entity (entity type `cloudstate.crdt.Crdt`): each entity id has one
 * CRDT (a counter, set, register, flag, map or vote), which the proxy owns and replicates. Handlers
 * change it through `ctx.state`; the SDK sends the changes of each command with its reply as one
 * delta, and applies the deltas the proxy sends.
 *
 * Server-streaming methods may keep their call open and push a message on every change with
 * `ctx.onStateChange()`, and react to the client's cancellation with `ctx.onCancel()`.
 *
 * @example
 * ```ts
 * import { codecs, createORSet, crdtEntity } from "@switchboard/sdk";
 * import { Presence } from "./gen/presence_pb.js";
 *
 * export const presence = crdtEntity({
 *   service: Presence,
 *   crdt: () => createORSet(codecs.string),
 *   handlers: {
 *     connect(req, ctx) {
 *       ctx.state.add(req.user);
 *       if (ctx.streamed) ctx.onCancel((users) => users.remove(req.user));
 *       return {};
 *     },
 *     watch(_req, ctx) {
 *       if (ctx.streamed) ctx.onStateChange((users) => ({ online: users.values() }));
 *       return { online: ctx.state.values() };
 *     },
 *   },
 * });
 * ```
 */
export function crdtEntity<S extends DescService, const O extends CrdtOption>(options: CrdtEntityOptions<S, O>): CrdtEntityDefinition<S, CrdtOf<O>> {
  const { service, passivationTimeoutMs } = options;
  const what = `crdtEntity(${service.typeName})`;
  const persistenceId = options.persistenceId ?? service.typeName;
  if (typeof persistenceId !== "string" || persistenceId === "") {
    throw new Error(`${what}: persistenceId must be a non-empty string when given`);
  }
  checkPassivationTimeout(what, passivationTimeoutMs);
  checkEntityMethods(what, service, "CRDT entity", ["unary", "server_streaming"]);
  const handlers = checkHandlers(what, service, options.handlers);
  const option: CrdtOption = options.crdt;
  let make: (entityId: string) => Crdt;
  if (typeof option === "string") {
    if (!(CRDT_KINDS as readonly string[]).includes(option)) {
      throw new Error(`${what}: crdt must be one of ${CRDT_KINDS.join(", ")}, or a function making the CRDT; got "${option}"`);
    }
    make = () => createCrdt(option);
  } else if (typeof option === "function") {
    make = (entityId) => {
      const crdt = option(entityId);
      implOf(crdt);
      return crdt;
    };
  } else {
    throw new Error(`${what}: crdt must be a CRDT type name or a function making the CRDT`);
  }
  return {
    kind: "crdt",
    service,
    persistenceId,
    passivationTimeoutMs,
    createCrdt: make as (entityId: string) => CrdtOf<O>,
    handlers,
  };
}
