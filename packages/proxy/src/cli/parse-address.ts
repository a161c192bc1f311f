/** A proxy's front port, as the CLI commands reach it. */
export interface FrontAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * Reads an `--address`: `host:port`, `[ipv6]:port`, a bare port, or a URL such as
 * `http://localhost:9000` (path ignored). Returns a one-line reason for anything else,
 * naming `flag` (the option the address came from).
 */
export function parseAddress(raw: string, flag = "--address"): FrontAddress | string {
  const wrong = `${flag} must be host:port or http://host:port, got "${raw}"`;
  if (/^\d+$/.test(raw)) return checkPort("127.0.0.1", raw) ?? wrong;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(raw)) {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return wrong;
    }
    if (url.protocol !== "http:") return `${flag}: only http:// is served by the front port, got "${raw}"`;
    return checkPort(url.hostname.replace(/^\[|\]$/g, ""), url.port === "" ? "80" : url.port) ?? wrong;
  }
  const colon = raw.lastIndexOf(":");
  if (colon <= 0) return wrong;
  return checkPort(raw.slice(0, colon).replace(/^\[|\]$/g, ""), raw.slice(colon + 1)) ?? wrong;
}

function checkPort(host: string, port: string): FrontAddress | undefined {
  if (host === "" || !/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535) return undefined;
  return { host, port: Number(port) };
}

/** The address a CLI command uses: `--address`, else 127.0.0.1 and `HTTP_PORT` (default 9000). */
export function defaultAddress(flag: string | undefined, env: Readonly<Record<string, string | undefined>>): string {
  return flag ?? `127.0.0.1:${env.HTTP_PORT || "9000"}`;
}
