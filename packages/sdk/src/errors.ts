/**
 * Errors a handler uses to fail a command on purpose.
 *
 * @module
 */

/**
 * Cross-copy brand: if two copies of the SDK end up loaded (for example `src/` through tsx in a
 * test and `dist/` through the package name), `instanceof` fails between them, so the runtime
 * recognises a failure by this registered symbol instead.
 */
const COMMAND_FAILURE = Symbol.for("@switchboard/sdk/CommandFailure");

/**
 * A failure to report to the caller: the command fails with this message, and the entity keeps
 * running.
 *
 * Throw it (or call `ctx.fail(message)`) from any handler. The SDK answers the command with a
 * Cloudstate `Failure` client action whose `description` is the message; the proxy turns it into
 * gRPC status UNKNOWN with that message (HTTP 500 with the message as body). A failed command
 * never applies its state change, and its side effects are dropped.
 *
 * Any other error thrown by a handler is not a failure but a crash: an action answers
 * "Unexpected error", and a value entity's stream is failed and closed (the proxy restarts the
 * entity on its next command).
 *
 * Actions may also `return` (or `yield`, in a streamed method) a `CommandFailure` instead of
 * throwing it: the call then fails with the side effects registered so far kept, which is what the
 * Cloudstate action protocol allows, and a streamed method can go on producing responses.
 *
 * @example
 * ```ts
 * handlers: {
 *   withdraw(req, ctx) {
 *     if (req.amount > ctx.state.balance) {
 *       throw new CommandFailure("Insufficient funds");
 *     }
 *     ctx.updateState({ balance: ctx.state.balance - req.amount });
 *     return {};
 *   },
 * }
 * ```
 */
export class CommandFailure extends Error {
  /**
   * @param message - the failure description the caller receives.
   * @param options - standard error options; `cause` is kept for logs only.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CommandFailure";
    Object.defineProperty(this, COMMAND_FAILURE, { value: true });
  }
}

/**
 * Whether `value` is a {@link CommandFailure}, also when it comes from another copy of the SDK.
 *
 * @example
 * ```ts
 * try {
 *   await handler(req, ctx);
 * } catch (e) {
 *   if (isCommandFailure(e)) console.log("failed on purpose:", e.message);
 * }
 * ```
 */
export function isCommandFailure(value: unknown): value is CommandFailure {
  return value instanceof CommandFailure || (value instanceof Error && (value as unknown as Partial<Record<symbol, unknown>>)[COMMAND_FAILURE] === true);
}
