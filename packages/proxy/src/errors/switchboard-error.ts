import { Code, codeName } from "./code.js";

/** Options of a {@link SwitchboardError} beyond its message and code. */
export interface SwitchboardErrorOptions {
  /** The underlying error, kept for logs. */
  cause?: unknown;
  /** Response headers/trailers to send with the error, if any. */
  metadata?: ReadonlyArray<readonly [string, string]>;
}

/**
 * The one error type of the proxy: a message plus a gRPC status code.
 *
 * `message` carries a `[code]` prefix for logs; `rawMessage` is what a client sees
 * (the gRPC status message, or the text/plain body of an HTTP error).
 */
export class SwitchboardError extends Error {
  override readonly name = "SwitchboardError";
  readonly code: Code;
  readonly rawMessage: string;
  readonly metadata: ReadonlyArray<readonly [string, string]>;

  constructor(message: string, code: Code = Code.Unknown, options: SwitchboardErrorOptions = {}) {
    super(`[${codeName(code).toLowerCase()}] ${message}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.rawMessage = message;
    this.metadata = options.metadata ?? [];
  }

  /** Wraps anything thrown into a SwitchboardError; non-Switchboard errors become INTERNAL. */
  static from(reason: unknown, code: Code = Code.Internal): SwitchboardError {
    if (reason instanceof SwitchboardError) return reason;
    if (reason instanceof Error) return new SwitchboardError(reason.message, code, { cause: reason });
    return new SwitchboardError(String(reason), code, { cause: reason });
  }
}
