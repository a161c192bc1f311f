/**
 * Runs an action handler for one call and collects its answers as {@link CommandResult}s, with
 * no protocol messages involved: the runtime and the testkit share it.
 *
 * @module
 */
import type { DescMethod, Message } from "@bufbuild/protobuf";
import type { Metadata } from "../../context/context.js";
import { ActionContextImpl } from "../../context/context-impl.js";
import type { CommandResult } from "../shared/outcome.js";
import { resolveOutcome, resultOfThrown } from "../shared/resolve-result.js";
import type { ActionDefinition } from "./definition.js";

/** What a call carries besides its requests. */
export interface ActionCallOptions {
  readonly metadata: Metadata;
  readonly signal: AbortSignal;
}

type Handler = (input: unknown, ctx: ActionContextImpl) => unknown;

function handlerOf(definition: ActionDefinition, method: DescMethod): Handler {
  const handler = definition.handlers[method.localName];
  if (handler === undefined) {
    // definition() checks every method has a handler; reaching this is an SDK bug.
    throw new Error(`no handler for ${method.parent.typeName}.${method.name}`);
  }
  return handler as unknown as Handler;
}

function nameOf(method: DescMethod): string {
  return `the handler of ${method.parent.typeName}.${method.name}`;
}

/** The result for a single answer: a crash or a failure keeps no side effects, anything else keeps them. */
function settle(ctx: ActionContextImpl, method: DescMethod, value: unknown): CommandResult {
  const outcome = resolveOutcome(method.output, value, nameOf(method));
  const sideEffects = ctx.takeSideEffects();
  // A returned (not thrown) CommandFailure keeps its side effects: the action protocol allows a
  // failure response with side effects, and the TCK model relies on it.
  return { outcome, sideEffects: outcome.kind === "crash" ? [] : sideEffects };
}

async function single(method: DescMethod, ctx: ActionContextImpl, run: () => unknown): Promise<CommandResult> {
  let value: unknown;
  try {
    value = await run();
  } catch (error) {
    return resultOfThrown(error);
  }
  return settle(ctx, method, value);
}

function isIterable(value: unknown): value is AsyncIterable<unknown> | Iterable<unknown> {
  return (
    typeof value === "object" &&
    value !== null &&
    (typeof (value as Partial<AsyncIterable<unknown>>)[Symbol.asyncIterator] === "function" ||
      typeof (value as Partial<Iterable<unknown>>)[Symbol.iterator] === "function")
  );
}

async function* stream(method: DescMethod, ctx: ActionContextImpl, run: () => unknown): AsyncGenerator<CommandResult> {
  let iterable: unknown;
  try {
    iterable = run();
  } catch (error) {
    yield resultOfThrown(error);
    return;
  }
  if (!isIterable(iterable)) {
    const error = new TypeError(`${nameOf(method)} must return an async iterable (e.g. be an async generator)`);
    yield { outcome: { kind: "crash", error }, sideEffects: [] };
    return;
  }
  try {
    for await (const value of iterable) {
      const result = settle(ctx, method, value);
      yield result;
      if (result.outcome.kind === "crash") return;
    }
  } catch (error) {
    ctx.takeSideEffects();
    yield resultOfThrown(error);
    return;
  }
  // Side effects registered after the last answer still go out, on an answer without a reply.
  const rest = ctx.takeSideEffects();
  if (rest.length > 0) {
    yield { outcome: { kind: "no-reply" }, sideEffects: rest };
  }
}

/**
 * Calls the handler of a unary method.
 *
 * @param request - a message of `method.input`.
 */
export function invokeUnary(definition: ActionDefinition, method: DescMethod, request: Message, options: ActionCallOptions): Promise<CommandResult> {
  const ctx = new ActionContextImpl(options.metadata, options.signal);
  const handler = handlerOf(definition, method);
  return single(method, ctx, () => handler(request, ctx));
}

/**
 * Calls the handler of a client-streaming method. Side effects accumulate over the whole call.
 *
 * @param requests - messages of `method.input`; an error thrown while reading them reaches the
 *   handler's loop, so decode errors should be `CommandFailure`s.
 */
export function invokeClientStreaming(
  definition: ActionDefinition,
  method: DescMethod,
  requests: AsyncIterable<Message>,
  options: ActionCallOptions,
): Promise<CommandResult> {
  const ctx = new ActionContextImpl(options.metadata, options.signal);
  const handler = handlerOf(definition, method);
  return single(method, ctx, () => handler(requests, ctx));
}

/**
 * Calls the handler of a server-streaming method: one result per yielded answer. A thrown
 * error ends the stream with a failure (or a crash) result.
 */
export function invokeServerStreaming(
  definition: ActionDefinition,
  method: DescMethod,
  request: Message,
  options: ActionCallOptions,
): AsyncGenerator<CommandResult> {
  const ctx = new ActionContextImpl(options.metadata, options.signal);
  const handler = handlerOf(definition, method);
  return stream(method, ctx, () => handler(request, ctx));
}

/** Calls the handler of a bidi-streaming method: one result per yielded answer. */
export function invokeBidiStreaming(
  definition: ActionDefinition,
  method: DescMethod,
  requests: AsyncIterable<Message>,
  options: ActionCallOptions,
): AsyncGenerator<CommandResult> {
  const ctx = new ActionContextImpl(options.metadata, options.signal);
  const handler = handlerOf(definition, method);
  return stream(method, ctx, () => handler(requests, ctx));
}
