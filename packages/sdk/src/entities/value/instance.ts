/**
 * One value entity in memory: its committed state, and how a command runs against it. No protocol
 * messages: the runtime and the testkit share it.
 *
 * @module
 */
import type { DescMethod, Message } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import type { Metadata } from "../../context/context.js";
import { ValueEntityContextImpl } from "../../context/context-impl.js";
import { packAny } from "../../serde/any.js";
import { cloneMessage, decodeMessage } from "../../serde/binary.js";
import type { CommandResult } from "../shared/outcome.js";
import { resolveOutcome, resultOfThrown } from "../shared/resolve-result.js";
import type { ValueEntityDefinition } from "./definition.js";

/** The state change of a successful command. */
export type StateAction = { readonly kind: "update"; readonly state: Message; readonly payload: Any } | { readonly kind: "delete" };

/** The result of a value entity command: the answer, its side effects and its state change. */
export interface ValueEntityResult extends CommandResult {
  readonly stateAction?: StateAction;
}

/** What a command carries besides its request. */
export interface ValueEntityCommandOptions {
  readonly metadata: Metadata;
  readonly signal: AbortSignal;
}

/** A value entity in memory. */
export interface ValueEntityInstance {
  readonly definition: ValueEntityDefinition;
  readonly entityId: string;
  /** A copy of the current state: the stored one, or the initial one while nothing is stored. */
  readonly state: Message;
  /** Whether a state is stored (false before the first update and after a delete). */
  readonly hasState: boolean;
  /**
   * Runs the handler of `method` with `request` (a message of `method.input`). A failure or a crash
   * leaves the state as it was and keeps no side effects.
   */
  handle(method: DescMethod, request: Message, options: ValueEntityCommandOptions): Promise<ValueEntityResult>;
}

/**
 * Creates a value entity holding `stored` (a message of `definition.state`, or `undefined` when
 * nothing is stored).
 */
export function createValueEntityInstance(definition: ValueEntityDefinition, entityId: string, stored: Message | undefined): ValueEntityInstance {
  let current = stored;
  return {
    definition,
    entityId,
    get state() {
      return current === undefined ? definition.initial() : cloneMessage(definition.state, current);
    },
    get hasState() {
      return current !== undefined;
    },
    async handle(method, request, options) {
      const handler = definition.handlers[method.localName] as unknown as
        | ((request: Message, ctx: ValueEntityContextImpl<typeof definition.state>) => unknown)
        | undefined;
      if (handler === undefined) {
        // valueEntity() checks every method has a handler; reaching this is an SDK bug.
        throw new Error(`no handler for ${method.parent.typeName}.${method.name}`);
      }
      const ctx = new ValueEntityContextImpl(options.metadata, options.signal, entityId, definition.state, current, definition.initial);
      let value: unknown;
      try {
        value = await handler(request, ctx);
      } catch (error) {
        return resultOfThrown(error);
      }
      const outcome = resolveOutcome(method.output, value, `the handler of ${method.parent.typeName}.${method.name}`);
      if (outcome.kind === "crash" || outcome.kind === "failure") {
        // Entity failures keep nothing: no state change, no side effects (TCK: "failure actions do
        // not allow side effects").
        return { outcome, sideEffects: [] };
      }
      const change = ctx.stateChange();
      let stateAction: StateAction | undefined;
      if (change?.kind === "update") {
        let payload: Any;
        try {
          payload = packAny(definition.state, change.state);
        } catch (error) {
          return { outcome: { kind: "crash", error }, sideEffects: [] };
        }
        // Keep a decoded copy: it is what the proxy will hand back on the next init, and nothing
        // else holds a reference to it.
        current = decodeMessage(definition.state, payload.value);
        stateAction = { kind: "update", state: current, payload };
      } else if (change?.kind === "delete") {
        current = undefined;
        stateAction = { kind: "delete" };
      }
      const sideEffects = ctx.takeSideEffects();
      return stateAction === undefined ? { outcome, sideEffects } : { outcome, sideEffects, stateAction };
    },
  };
}
