import { Code } from "./code.js";

/**
 * The one table from gRPC codes to HTTP statuses (the google.rpc.Code mapping,
 * with the Cloudstate rule that a user-function failure, UNKNOWN, is a 500).
 */
const HTTP_STATUS: Record<Code, number> = {
  [Code.Ok]: 200,
  [Code.Canceled]: 499,
  [Code.Unknown]: 500,
  [Code.InvalidArgument]: 400,
  [Code.DeadlineExceeded]: 504,
  [Code.NotFound]: 404,
  [Code.AlreadyExists]: 409,
  [Code.PermissionDenied]: 403,
  [Code.ResourceExhausted]: 413,
  [Code.FailedPrecondition]: 400,
  [Code.Aborted]: 409,
  [Code.OutOfRange]: 400,
  [Code.Unimplemented]: 501,
  [Code.Internal]: 500,
  [Code.Unavailable]: 503,
  [Code.DataLoss]: 500,
  [Code.Unauthenticated]: 401,
};

/** The HTTP status that answers an error with this gRPC code. */
export function httpStatusFor(code: Code): number {
  return HTTP_STATUS[code] ?? 500;
}
