/**
 * Types shared by the entity definitions: what handlers may return, and how handlers are stored.
 *
 * @module
 */
import type { DescMessage, DescService, MessageInitShape } from "@bufbuild/protobuf";
import type { ForwardReply } from "../../context/context.js";
import type { CommandFailure } from "../../errors.js";

/**
 * What a handler answers for a method whose output type is `O`:
 *
 * - a message of type `O`, or a plain object to create one from (`{ value: 3n }`): the reply;
 * - `ctx.forward(method, request)`: forward the call, the target's reply becomes the reply;
 * - `undefined`: no reply (the proxy answers a unary call with the empty `O`);
 * - a `CommandFailure` (actions): fail the call but keep the side effects registered so far.
 */
export type HandlerResult<O extends DescMessage> = MessageInitShape<O> | ForwardReply | CommandFailure | undefined;

/** A value, or a promise of it. */
export type MaybePromise<T> = T | Promise<T>;

/** A sync or async iterable, as returned by a generator or an async generator. */
export type AnyIterable<T> = AsyncIterable<T> | Iterable<T>;

/** How a definition keeps its handlers once they are checked: by method local name. @internal */
export type HandlerTable = Readonly<Record<string, (...args: never[]) => unknown>>;

/**
 * Checks that `handlers` has a function for every method of `service` and nothing else, for
 * JavaScript callers and objects built dynamically (TypeScript already checks literals).
 */
export function checkHandlers(what: string, service: DescService, handlers: object): HandlerTable {
  const table = handlers as Record<string, unknown>;
  const known = new Set(service.methods.map((m) => m.localName));
  for (const key of Object.keys(table)) {
    if (!known.has(key)) {
      const names = service.methods.map((m) => m.localName).join(", ");
      throw new Error(`${what}: "${key}" is not a method of ${service.typeName}; its methods are: ${names}`);
    }
  }
  for (const method of service.methods) {
    if (typeof table[method.localName] !== "function") {
      throw new Error(`${what}: no handler for ${service.typeName}.${method.name} (key "${method.localName}")`);
    }
  }
  return table as HandlerTable;
}
