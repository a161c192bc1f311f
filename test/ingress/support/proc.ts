/**
 * What a process holds, read from /proc (Linux): descriptors, resident memory, and
 * the TCP sockets of a port by state.
 */
import { readdirSync, readFileSync } from "node:fs";

/** Open file descriptors of a process. */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Resident set size of a process, in bytes. */
export function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(match?.[1] ?? 0) * 1024;
}

/** TCP states as /proc/net/tcp numbers them. */
export const TCP_STATE = { ESTABLISHED: "01", CLOSE_WAIT: "08" } as const;

/** How many sockets whose local port is `port` are in `state` (IPv4 and IPv6). */
export function socketsInState(port: number, state: string): number {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  let count = 0;
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 4) continue;
      if (fields[1]?.endsWith(`:${hexPort}`) && fields[3] === state) count++;
    }
  }
  return count;
}
