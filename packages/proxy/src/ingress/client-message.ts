import { SwitchboardError } from "../errors/index.js";

/** A detail that may appear in error messages but must not reach clients, and what stands in for it. */
export interface Redaction {
  /** The text to hide (an address, a file path). Empty strings are ignored. */
  readonly secret: string;
  /** What a client sees instead. */
  readonly replacement: string;
}

/**
 * Returns the function that turns an error into the text a client is sent: its raw
 * message with every deployment detail replaced (the user function's address, the
 * database's path or URL). Logs keep the full message; clients learn what went wrong,
 * not where things run.
 */
export function createClientMessage(redactions: readonly Redaction[]): (error: SwitchboardError) => string {
  const active = redactions.filter((r) => r.secret !== "").sort((a, b) => b.secret.length - a.secret.length);
  if (active.length === 0) return (error) => error.rawMessage;
  return (error) => {
    let text = error.rawMessage;
    for (const { secret, replacement } of active) if (text.includes(secret)) text = text.split(secret).join(replacement);
    return text;
  };
}

/** The error as a client may see it: the same code and metadata, the message passed through `clientMessage`. */
export function errorForClient(error: SwitchboardError, clientMessage: (error: SwitchboardError) => string): SwitchboardError {
  const text = clientMessage(error);
  return text === error.rawMessage ? error : new SwitchboardError(text, error.code, { metadata: error.metadata });
}
