/**
 * HTTP/1.1 side of the load generator, over undici: a pool of keep-alive connections
 * (one per concurrent caller, no pipelining), each call's body read in full.
 */
import { Pool } from "undici";

/** One HTTP request of a load point. */
export interface HttpRequest {
  readonly path: string;
  readonly method?: "GET" | "POST";
  readonly headers?: Record<string, string>;
  readonly body?: string | Buffer;
}

/** The outcome of one call: `ok` when the status is 2xx. */
export interface HttpOutcome {
  readonly ok: boolean;
  readonly status: number;
  readonly body: Buffer;
}

/** A pool of connections to one HTTP origin. */
export class HttpClient {
  private readonly pool: Pool;

  constructor(
    readonly origin: string,
    connections: number,
  ) {
    this.pool = new Pool(origin, { connections, pipelining: 1, keepAliveTimeout: 60_000, keepAliveMaxTimeout: 600_000 });
  }

  async call(request: HttpRequest): Promise<HttpOutcome> {
    const response = await this.pool.request({
      path: request.path,
      method: request.method ?? "POST",
      ...(request.headers !== undefined ? { headers: request.headers } : {}),
      ...(request.body !== undefined ? { body: request.body } : {}),
    });
    const body = Buffer.from(await response.body.arrayBuffer());
    return { ok: response.statusCode >= 200 && response.statusCode < 300, status: response.statusCode, body };
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
