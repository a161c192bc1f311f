import { Code, SwitchboardError } from "../errors/index.js";
import { describeSocketFailure } from "./unix-socket.js";

/*
 * What both user-function clients say when a call or a connection fails: one wording for
 * the operator whichever HTTP/2 stack carried the call.
 */

/** The `grpc-timeout` header value for an absolute deadline. */
export function grpcTimeout(deadline: number): string {
  return `${Math.max(1, Math.ceil(deadline - Date.now()))}m`;
}

/** The error a call ends with for a non-OK gRPC status from the user function. */
export function statusError(code: number, message: string, target: string): SwitchboardError {
  if (code === Code.Unavailable) return new SwitchboardError(`user function at ${target} is unavailable: ${message}`, Code.Unavailable);
  if (code === Code.DeadlineExceeded) return new SwitchboardError(`user function at ${target} did not answer in time`, Code.DeadlineExceeded);
  if (code in Code) return new SwitchboardError(message, code as Code);
  return new SwitchboardError(message, Code.Unknown);
}

/** The error a call ends with when the user function answered with an HTTP status other than 200 (mapped as gRPC's HTTP/2 spec says). */
export function httpStatusError(status: number, target: string): SwitchboardError {
  const message = `user function at ${target} answered HTTP ${status}`;
  switch (status) {
    case 400:
      return new SwitchboardError(message, Code.Internal);
    case 401:
      return new SwitchboardError(message, Code.Unauthenticated);
    case 403:
      return new SwitchboardError(message, Code.PermissionDenied);
    case 404:
      return new SwitchboardError(message, Code.Unimplemented);
    case 429:
    case 502:
    case 503:
    case 504:
      return new SwitchboardError(message, Code.Unavailable);
    default:
      return new SwitchboardError(message, Code.Unknown);
  }
}

/** Says in one line why a connection attempt or a connection failed. */
export function describeFailure(error: NodeJS.ErrnoException, target: string, settled: boolean, tls: boolean, socket: string | undefined): string {
  const cause = (error as { cause?: NodeJS.ErrnoException }).cause;
  const code = error.code === "ERR_HTTP2_STREAM_CANCEL" && cause !== undefined ? cause.code : error.code === "EPROTO" ? sslCode(error.message) : error.code;
  const socketFailure = socket === undefined || settled ? undefined : describeSocketFailure(code, socket);
  if (socketFailure !== undefined) return socketFailure;
  const tlsFailure = tls ? describeTlsFailure(code, (cause ?? error).message, target) : undefined;
  if (tlsFailure !== undefined) return tlsFailure;
  // A plaintext HTTP/2 preface sent to a TLS server gets the connection closed or garbage back.
  const tlsHint = tls ? "" : " (if it serves TLS, start the proxy with --user-function-tls)";
  switch (code) {
    case "ECONNREFUSED":
      return `connection refused at ${target} — is the user function running?`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `cannot resolve the user function's host in ${target}`;
    case "ETIMEDOUT":
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return `cannot reach ${target} (${code})`;
    case "ECONNRESET":
      return settled
        ? `the user function at ${target} reset the connection`
        : `${target} reset the connection before speaking HTTP/2 — is it an HTTP/2 gRPC server?${tlsHint}`;
    case "ERR_HTTP2_ERROR":
    case "ERR_HTTP2_SESSION_ERROR":
      return settled
        ? `HTTP/2 protocol error from the user function at ${target}`
        : `${target} is not an HTTP/2 gRPC server (it did not answer the HTTP/2 preface)${tlsHint}`;
    default:
      return (cause ?? error).message;
  }
}

/**
 * A TLS failure met while writing comes as EPROTO with OpenSSL's reason in the message
 * ("...:SSL routines:ssl3_get_record:wrong version number:..."); Node names the same failure
 * met while reading ERR_SSL_WRONG_VERSION_NUMBER. This gives both the one name.
 */
function sslCode(message: string): string {
  const reason = /SSL routines:[^:]*:([^:]+)/.exec(message)?.[1];
  return reason === undefined ? "EPROTO" : `ERR_SSL_${reason.trim().toUpperCase().replaceAll(" ", "_")}`;
}

/** Certificate codes of OpenSSL and Node that mean "the user function's certificate is not trusted". */
const UNTRUSTED = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_SIGNATURE_FAILURE",
  "CERT_UNTRUSTED",
]);

/** Says why a TLS connection to the user function failed, or undefined when the failure is not about TLS. */
export function describeTlsFailure(code: string | undefined, message: string, target: string): string | undefined {
  if (code === undefined) return undefined;
  if (UNTRUSTED.has(code)) {
    return `TLS to the user function at ${target} failed: its certificate is not trusted (${message}); give its CA with --user-function-tls-ca`;
  }
  if (code === "CERT_HAS_EXPIRED" || code === "CERT_NOT_YET_VALID") return `TLS to the user function at ${target} failed: its certificate ${message}`;
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") {
    return `TLS to the user function at ${target} failed: its certificate does not name it (${message}); set --user-function-tls-server-name to a name it carries`;
  }
  if (code === "ERR_SSL_WRONG_VERSION_NUMBER" || code === "ERR_SSL_PACKET_LENGTH_TOO_LONG") {
    return `TLS to the user function at ${target} failed: it does not speak TLS (is it serving plaintext? then drop --user-function-tls)`;
  }
  if (/CERTIFICATE_REQUIRED|BAD_CERTIFICATE|UNKNOWN_CA|HANDSHAKE_FAILURE/.test(code)) {
    return `TLS to the user function at ${target} failed: it refused the handshake (${message}); does it require a client certificate (--user-function-tls-cert, --user-function-tls-key)?`;
  }
  if (code === "ERR_HTTP2_ERROR" || code === "ERR_HTTP2_SESSION_ERROR") {
    return `the user function at ${target} did not agree to HTTP/2 over TLS (ALPN h2)`;
  }
  return undefined;
}
