import { Code, SwitchboardError } from "../../errors/index.js";
import { messageOf } from "../group-commit.js";

/** A row value the store could not decode (`Code.DataLoss`), naming the journal or entity. */
export function dataLoss(context: string, detail: string): SwitchboardError {
  return new SwitchboardError(`${context}: cannot decode stored row: ${detail}`, Code.DataLoss);
}

/** An INTEGER column as a safe integer, or `Code.DataLoss`. */
export function decodeInt(value: unknown, context: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    throw dataLoss(context, `expected an integer, got ${typeof value === "number" ? value : typeof value}`);
  }
  return value;
}

/** SQLite's extended result code of an error thrown by the driver (`SQLITE_BUSY`…), if it has one. */
export function sqliteCode(err: unknown): string | undefined {
  if (typeof err !== "object" || err === null || !("code" in err)) return undefined;
  return typeof err.code === "string" ? err.code : undefined;
}

/** Errors that mean "the store cannot take this now": retrying later, elsewhere, may work. */
const UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|FULL|IOERR|CANTOPEN|READONLY|NOMEM|PROTOCOL|INTERRUPT)/;

/** Maps anything a statement threw to a SwitchboardError naming the journal or entity. */
export function classify(err: unknown, context: string): SwitchboardError {
  if (err instanceof SwitchboardError) return err;
  const code = sqliteCode(err) ?? "";
  const message = `${context}: ${messageOf(err)}`;
  if (code === "SQLITE_CONSTRAINT_PRIMARYKEY" || code === "SQLITE_CONSTRAINT_UNIQUE") {
    return new SwitchboardError(`${context}: conflicting concurrent write (${messageOf(err)})`, Code.Aborted, { cause: err });
  }
  if (code.startsWith("SQLITE_CORRUPT") || code === "SQLITE_NOTADB") {
    return new SwitchboardError(message, Code.DataLoss, { cause: err });
  }
  if (code === "SQLITE_TOOBIG") return new SwitchboardError(message, Code.ResourceExhausted, { cause: err });
  if (UNAVAILABLE.test(code)) return new SwitchboardError(message, Code.Unavailable, { cause: err });
  // better-sqlite3 throws a TypeError once the connection is closed.
  if (err instanceof TypeError && /not open/.test(err.message)) {
    return new SwitchboardError(message, Code.Unavailable, { cause: err });
  }
  return new SwitchboardError(message, Code.Internal, { cause: err });
}
