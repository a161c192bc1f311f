/**
 * What handling one command produced, in the SDK's own terms: the protocol codecs turn it into
 * Cloudstate messages, and the testkit into its results. Every union carries a `kind`.
 *
 * @module
 */
import type { DescMethod, Message } from "@bufbuild/protobuf";
import type { Any } from "@bufbuild/protobuf/wkt";
import type { MetadataItem } from "../../context/context.js";

/** A call the proxy makes on the user function's behalf: a forward or a side effect. */
export interface EffectCall {
  readonly method: DescMethod;
  readonly request: Message;
  /** `request` packed, so encoding errors surface inside the handler that asked for the call. */
  readonly payload: Any;
  readonly metadata: readonly MetadataItem[];
}

/** A side effect registered by a handler. */
export interface SideEffectRecord extends EffectCall {
  readonly synchronous: boolean;
}

/**
 * The answer to the caller. `failure` is a CommandFailure (sent to the caller); `crash` is any
 * other error (an action answers "Unexpected error", a value entity fails its stream).
 */
export type CommandOutcome =
  | { readonly kind: "reply"; readonly message: Message; readonly payload: Any }
  | { readonly kind: "no-reply" }
  | { readonly kind: "forward"; readonly forward: EffectCall }
  | { readonly kind: "failure"; readonly description: string }
  | { readonly kind: "crash"; readonly error: unknown };

/** One answer of a handler with the side effects that go with it. */
export interface CommandResult {
  readonly outcome: CommandOutcome;
  readonly sideEffects: readonly SideEffectRecord[];
}
