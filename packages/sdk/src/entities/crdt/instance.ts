/**
 * One CRDT entity in memory: its CRDT, its open streamed calls, and how commands, deltas and
 * cancellations run against it. No protocol messages: the runtime and the testkit share it.
 *
 * Everything here runs one message at a time, in order: a command, a delta or a cancellation
 * finishes (its answer, then the streamed messages its change caused) before the next starts.
 *
 * @module
 */
import type { DescMethod, Message } from "@bufbuild/protobuf";
import type { CrdtDelta } from "@switchboard/protocol";
import { CrdtWriteConsistency } from "@switchboard/protocol";
import type { CrdtContext, CrdtStreamContext, Metadata } from "../../context/context.js";
import type { CrdtCommandSession, CrdtSubscription } from "../../context/context-impl.js";
import { CrdtContextImpl, CrdtStreamContextImpl } from "../../context/context-impl.js";
import type { Crdt } from "../../crdt/crdt.js";
import { implOf, kindOfDelta } from "../../crdt/crdt.js";
import type { CommandResult, SideEffectRecord } from "../shared/outcome.js";
import { resolveOutcome, resultOfThrown } from "../shared/resolve-result.js";
import type { CrdtEntityDefinition } from "./definition.js";

/** A state change to send to the proxy (`CrdtStateAction`). */
export type CrdtStateChange =
  | { readonly kind: "update"; readonly delta: CrdtDelta; readonly writeConsistency: CrdtWriteConsistency }
  | { readonly kind: "delete"; readonly writeConsistency: CrdtWriteConsistency };

/**
 * What the entity says, in order. `crash` means a handler or callback threw something other than
 * a `CommandFailure` (or broke a rule): the runtime fails that command and ends the stream.
 */
export type CrdtOutput =
  | {
      readonly kind: "reply";
      readonly commandId: bigint;
      readonly result: CommandResult;
      readonly stateChange: CrdtStateChange | undefined;
      /** The call stays open for streamed messages. */
      readonly streamed: boolean;
    }
  | { readonly kind: "streamed-message"; readonly commandId: bigint; readonly result: CommandResult; readonly endStream: boolean }
  | {
      readonly kind: "cancelled-response";
      readonly commandId: bigint;
      readonly sideEffects: readonly SideEffectRecord[];
      readonly stateChange: CrdtStateChange | undefined;
    }
  | { readonly kind: "failure"; readonly commandId: bigint; readonly description: string }
  | { readonly kind: "crash"; readonly commandId: bigint; readonly error: unknown };

/** What a command carries besides its request. */
export interface CrdtCommandOptions {
  readonly metadata: Metadata;
  /** The entity stream's signal; a streamed call's own signal also aborts when it ends. */
  readonly signal: AbortSignal;
  /** `Command.streamed`. */
  readonly streamed: boolean;
}

/** A CRDT entity in memory. */
export interface CrdtInstance {
  readonly definition: CrdtEntityDefinition;
  readonly entityId: string;
  /** The current CRDT, or `undefined` while the entity has none (nothing from the proxy, no command yet). */
  readonly crdt: Crdt | undefined;
  /** Whether the CRDT was deleted (by a command, or by the proxy). */
  readonly deleted: boolean;
  /** The ids of the streamed calls that are open. */
  readonly openStreams: readonly bigint[];
  /** Seeds the CRDT with `init.delta`. Throws for a delta of another CRDT type. */
  init(delta: CrdtDelta): void;
  /** Merges a delta from the proxy, then tells the open streamed calls. Throws for a delta of another type. */
  applyDelta(delta: CrdtDelta): Promise<CrdtOutput[]>;
  /** The proxy deleted the CRDT. */
  delete(): void;
  /** Runs a command: its reply, then the streamed messages its change caused. */
  handleCommand(commandId: bigint, method: DescMethod, request: Message, options: CrdtCommandOptions): Promise<CrdtOutput[]>;
  /** The client cancelled streamed call `commandId`: its `onCancel`, the response, then the streamed messages its change caused. */
  cancel(commandId: bigint): Promise<CrdtOutput[]>;
  /** Ends every open streamed call's signal (the entity stream is over). */
  close(): void;
}

interface OpenStream {
  readonly commandId: bigint;
  readonly method: DescMethod;
  readonly metadata: Metadata;
  readonly controller: AbortController;
  readonly subscription: CrdtSubscription<Crdt>;
  /** Aborts the call's signal and unhooks it from the entity stream's. */
  readonly release: () => void;
}

/** Creates an entity with no CRDT yet. */
export function createCrdtInstance(definition: CrdtEntityDefinition, entityId: string): CrdtInstance {
  let crdt: Crdt | undefined;
  let deleted = false;
  const streams = new Map<bigint, OpenStream>();

  /** A new CRDT of the entity's type holding `delta`, with no pending change. */
  function fromDelta(delta: CrdtDelta): Crdt {
    const made = definition.createCrdt(entityId);
    const impl = implOf(made);
    if (kindOfDelta(delta) !== made.kind) {
      throw new TypeError(`${definition.service.typeName} entity "${entityId}" holds a ${made.kind}; the proxy sent a ${delta.delta.case ?? "empty"} delta`);
    }
    // Whatever the new CRDT wrote on creation (a register's initial value) is superseded by the
    // proxy's state.
    impl.resetDelta();
    impl.applyDelta(delta);
    return made;
  }

  const session: CrdtCommandSession<Crdt> = {
    crdt() {
      if (deleted) throw new Error(`the CRDT of ${definition.service.typeName} entity "${entityId}" was deleted`);
      crdt ??= definition.createCrdt(entityId);
      return crdt;
    },
  };

  /** The state change of a command (or cancellation) that succeeded, after which the delta is reset. */
  function stateChangeOf(ctx: CrdtContextImpl<Crdt>): CrdtStateChange | undefined {
    const writeConsistency = ctx.writeConsistency;
    if (CrdtWriteConsistency[writeConsistency] === undefined) throw new RangeError(`unknown write consistency ${writeConsistency}`);
    if (ctx.deleted) {
      if (crdt !== undefined) implOf(crdt).resetDelta();
      return { kind: "delete", writeConsistency };
    }
    if (crdt === undefined) return undefined;
    const impl = implOf(crdt);
    const delta = impl.delta();
    impl.resetDelta();
    return delta === undefined ? undefined : { kind: "update", delta, writeConsistency };
  }

  /** After a delete: no CRDT, no open calls. */
  function forget(): void {
    deleted = true;
    crdt = undefined;
    for (const stream of streams.values()) stream.release();
    streams.clear();
  }

  /** Calls every open call's `onStateChange`, in order, and collects what they send. */
  async function notify(): Promise<CrdtOutput[]> {
    const outputs: CrdtOutput[] = [];
    if (crdt === undefined) return outputs;
    const impl = implOf(crdt);
    for (const stream of [...streams.values()]) {
      const callback = stream.subscription.onStateChange;
      if (callback === undefined) continue;
      const ctx = new CrdtStreamContextImpl(stream.metadata, stream.controller.signal, entityId, stream.commandId);
      let value: unknown;
      try {
        value = await callback(crdt, ctx as CrdtStreamContext);
      } catch (error) {
        const result = resultOfThrown(error);
        if (result.outcome.kind === "crash") {
          outputs.push({ kind: "crash", commandId: stream.commandId, error: result.outcome.error });
          return outputs;
        }
        value = error;
      }
      if (impl.delta() !== undefined) {
        const error = new Error(`the onStateChange callback of ${stream.method.parent.typeName}.${stream.method.name} changed the CRDT; it may only read it`);
        outputs.push({ kind: "crash", commandId: stream.commandId, error });
        return outputs;
      }
      const outcome = resolveOutcome(stream.method.output, value, `the onStateChange callback of ${stream.method.parent.typeName}.${stream.method.name}`);
      if (outcome.kind === "crash") {
        outputs.push({ kind: "crash", commandId: stream.commandId, error: outcome.error });
        return outputs;
      }
      const sideEffects = ctx.takeSideEffects();
      // A failure ends the client's call: the stream ends with it.
      const endStream = ctx.ended || outcome.kind === "failure";
      if (outcome.kind !== "no-reply" || sideEffects.length > 0 || endStream) {
        outputs.push({ kind: "streamed-message", commandId: stream.commandId, result: { outcome, sideEffects }, endStream });
      }
      if (endStream) {
        streams.delete(stream.commandId);
        stream.release();
      }
    }
    return outputs;
  }

  return {
    definition,
    entityId,
    get crdt() {
      return crdt;
    },
    get deleted() {
      return deleted;
    },
    get openStreams() {
      return [...streams.keys()];
    },

    init(delta) {
      crdt = fromDelta(delta);
    },

    async applyDelta(delta) {
      if (deleted) return [];
      if (crdt === undefined) {
        crdt = fromDelta(delta);
      } else {
        implOf(crdt).applyDelta(delta);
      }
      return notify();
    },

    delete() {
      forget();
    },

    async handleCommand(commandId, method, request, options) {
      const name = `${method.parent.typeName}.${method.name}`;
      if (deleted) {
        return [
          {
            kind: "reply",
            commandId,
            result: { outcome: { kind: "failure", description: `${name}: the entity was deleted` }, sideEffects: [] },
            stateChange: undefined,
            streamed: false,
          },
        ];
      }
      const handler = definition.handlers[method.localName] as unknown as ((request: Message, ctx: unknown) => unknown) | undefined;
      if (handler === undefined) {
        // crdtEntity() checks every method has a handler; reaching this is an SDK bug.
        throw new Error(`no handler for ${name}`);
      }
      const hadCrdt = crdt !== undefined;
      const restore = crdt === undefined ? undefined : implOf(crdt).snapshot();
      const rollback = (): void => {
        if (restore !== undefined) restore();
        else if (!hadCrdt) crdt = undefined;
      };
      const serverStreaming = method.methodKind === "server_streaming";
      const controller = new AbortController();
      const onAbort = (): void => controller.abort();
      options.signal.addEventListener("abort", onAbort, { once: true });
      const release = (): void => {
        options.signal.removeEventListener("abort", onAbort);
        controller.abort();
      };
      const ctx = new CrdtContextImpl<Crdt>(options.metadata, controller.signal, entityId, options.streamed, session, serverStreaming);
      let result: CommandResult;
      try {
        const value = await handler(request, ctx);
        const outcome = resolveOutcome(method.output, value, `the handler of ${name}`);
        result = { outcome, sideEffects: outcome.kind === "crash" || outcome.kind === "failure" ? [] : ctx.takeSideEffects() };
      } catch (error) {
        result = resultOfThrown(error);
      }
      const subscription = ctx.subscription;
      const keepOpen = result.outcome.kind !== "crash" && result.outcome.kind !== "failure" && subscription !== undefined;
      if (!keepOpen) release();
      if (result.outcome.kind === "crash") {
        rollback();
        return [{ kind: "crash", commandId, error: result.outcome.error }];
      }
      if (result.outcome.kind === "failure") {
        // A failed command keeps nothing: no change, no side effects, no subscription.
        rollback();
        return [{ kind: "reply", commandId, result, stateChange: undefined, streamed: false }];
      }
      let stateChange: CrdtStateChange | undefined;
      try {
        stateChange = stateChangeOf(ctx);
      } catch (error) {
        rollback();
        return [{ kind: "crash", commandId, error }];
      }
      const outputs: CrdtOutput[] = [{ kind: "reply", commandId, result, stateChange, streamed: keepOpen }];
      if (stateChange?.kind === "delete") {
        forget();
        return outputs;
      }
      if (stateChange !== undefined) outputs.push(...(await notify()));
      if (keepOpen && subscription !== undefined) {
        // Registered after the other calls heard of this change: a call hears of later changes only.
        streams.set(commandId, { commandId, method, metadata: options.metadata, controller, subscription, release });
      }
      return outputs;
    },

    async cancel(commandId) {
      const stream = streams.get(commandId);
      streams.delete(commandId);
      if (stream === undefined) return [{ kind: "cancelled-response", commandId, sideEffects: [], stateChange: undefined }];
      stream.release();
      const callback = stream.subscription.onCancel;
      if (callback === undefined || deleted) return [{ kind: "cancelled-response", commandId, sideEffects: [], stateChange: undefined }];
      const hadCrdt = crdt !== undefined;
      const restore = crdt === undefined ? undefined : implOf(crdt).snapshot();
      const ctx = new CrdtContextImpl<Crdt>(stream.metadata, new AbortController().signal, entityId, false, session, false);
      let thrown: CommandResult | undefined;
      try {
        await callback(session.crdt(), ctx as CrdtContext<Crdt>);
      } catch (error) {
        thrown = resultOfThrown(error);
      }
      if (thrown !== undefined) {
        if (restore !== undefined) restore();
        else if (!hadCrdt) crdt = undefined;
        const { outcome } = thrown;
        return outcome.kind === "failure"
          ? [{ kind: "failure", commandId, description: outcome.description }]
          : [{ kind: "crash", commandId, error: outcome.kind === "crash" ? outcome.error : undefined }];
      }
      let stateChange: CrdtStateChange | undefined;
      try {
        stateChange = stateChangeOf(ctx);
      } catch (error) {
        return [{ kind: "crash", commandId, error }];
      }
      const outputs: CrdtOutput[] = [{ kind: "cancelled-response", commandId, sideEffects: ctx.takeSideEffects(), stateChange }];
      if (stateChange?.kind === "delete") {
        forget();
        return outputs;
      }
      if (stateChange !== undefined) outputs.push(...(await notify()));
      return outputs;
    },

    close() {
      for (const stream of streams.values()) stream.release();
      streams.clear();
    },
  };
}
