/**
 * gRPC status codes, numbered as in `google.rpc.Code`. A numeric enum mirrors the
 * wire values, which is the one place an enum reads better than a string union.
 */
export enum Code {
  Ok = 0,
  Canceled = 1,
  Unknown = 2,
  InvalidArgument = 3,
  DeadlineExceeded = 4,
  NotFound = 5,
  AlreadyExists = 6,
  PermissionDenied = 7,
  ResourceExhausted = 8,
  FailedPrecondition = 9,
  Aborted = 10,
  OutOfRange = 11,
  Unimplemented = 12,
  Internal = 13,
  Unavailable = 14,
  DataLoss = 15,
  Unauthenticated = 16,
}

/** The upper-snake name of a code, as gRPC tools print it (`INVALID_ARGUMENT`). */
export function codeName(code: Code): string {
  return (Code[code] ?? "Unknown")
    .replace(/([a-z])([A-Z])/g, "$1_$2")
    .toUpperCase()
    .replace("CANCELED", "CANCELLED");
}
