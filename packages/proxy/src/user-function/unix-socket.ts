/**
 * The user-function channel over a Unix domain socket (`--user-function-socket`): the
 * checks made at start and the one-line reasons a connection to the socket failed.
 *
 * @module
 */
import { accessSync, constants, type Stats, statSync } from "node:fs";

/** What a path holds, in words, for messages ("a regular file", "a directory", …). */
function kindOf(stats: Stats): string {
  if (stats.isFile()) return "a regular file";
  if (stats.isDirectory()) return "a directory";
  if (stats.isFIFO()) return "a named pipe";
  if (stats.isSymbolicLink()) return "a symbolic link";
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return "a device";
  return "not a socket";
}

/**
 * Checks the socket path when the proxy starts: a reason to stop at once, or undefined.
 * A path that does not exist yet is fine (the user function may start after the proxy;
 * the proxy keeps dialling and `/ready` says 503 meanwhile); a path that holds something
 * other than a socket, or a socket the proxy may not connect to, will not get better by
 * waiting, so it is refused with what was found.
 */
export function checkUserFunctionSocket(path: string): string | undefined {
  let stats: Stats;
  try {
    stats = statSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    if (code === "EACCES") return `cannot reach the user-function socket ${path}: permission denied on a directory of its path`;
    if (code === "ENOTDIR") return `the user-function socket path ${path} goes through something that is not a directory`;
    return `cannot check the user-function socket ${path}: ${(error as Error).message}`;
  }
  if (!stats.isSocket()) return `the user-function socket path ${path} is ${kindOf(stats)}, not a socket`;
  try {
    // connect(2) on a Unix socket needs write permission on it.
    accessSync(path, constants.W_OK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EACCES") {
      return `permission denied on the user-function socket ${path}: the proxy's user needs write permission on it (its owner or group, or chmod)`;
    }
  }
  return undefined;
}

/**
 * Says in one line why connecting to the socket at `path` failed (the errno `code` of
 * the connect), or undefined when the code says nothing socket-specific.
 */
export function describeSocketFailure(code: string | undefined, path: string): string | undefined {
  switch (code) {
    case "ENOENT":
      return `no socket at ${path} — is the user function running and listening on it?`;
    case "EACCES":
    case "EPERM":
      return `permission denied connecting to the user-function socket ${path}: the proxy's user needs write permission on it and search permission on its directories`;
    case "ENOTDIR":
      return `the user-function socket path ${path} goes through something that is not a directory`;
    case "ENOTSOCK":
      return `the user-function socket path ${path} is not a socket`;
    case "ECONNREFUSED": {
      let stats: Stats | undefined;
      try {
        stats = statSync(path);
      } catch {
        return `no socket at ${path} — is the user function running and listening on it?`;
      }
      if (!stats.isSocket()) return `the user-function socket path ${path} is ${kindOf(stats)}, not a socket`;
      return `nothing listens on the socket ${path} (a socket file left by a user function that stopped?) — is the user function running?`;
    }
    case "EAGAIN":
      return `the user function's socket ${path} is not accepting connections (its backlog is full)`;
    default:
      return undefined;
  }
}
