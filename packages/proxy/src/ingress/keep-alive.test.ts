/**
 * A long HTTP/1.1 keep-alive connection costs the same per request at its thousandth
 * request as at its first: nothing is added to the connection per request, and the
 * header timeout still guards every request's head after the many before it. The
 * front server in this process, a real client socket.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import type * as http from "node:http";
import * as net from "node:net";
import { after, before, describe, it } from "node:test";
import { createLogger } from "../observability/logger.js";
import { type FrontServer, createFrontServer } from "./server.js";

const REQUESTS = 1_000;
const HEADER_TIMEOUT_MS = 400;

/** Sends `count` requests one after another on `socket`, each after the previous answer. */
async function requests(socket: net.Socket, count: number): Promise<void> {
  let buffered = "";
  for (let i = 0; i < count; i++) {
    socket.write(`GET /n/${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
    while (!buffered.includes(`\r\n\r\nok ${i}`)) {
      const [chunk] = (await once(socket, "data")) as [Buffer];
      buffered += chunk.toString("latin1");
    }
    buffered = buffered.slice(buffered.indexOf(`ok ${i}`) + `ok ${i}`.length);
  }
}

describe("HTTP/1.1 keep-alive connections", () => {
  let front: FrontServer;
  /** The server side's listener counts per event, at each request. */
  const seen: Record<string, number>[] = [];

  before(async () => {
    front = await createFrontServer({
      host: "127.0.0.1",
      port: 0,
      logger: createLogger({ level: "error" }),
      limits: { headerTimeoutMs: HEADER_TIMEOUT_MS, idleTimeoutMs: 60_000 },
      handlers: {
        onBuiltinStream() {},
        onHttp2Stream() {},
        onHttp1Request(request: http.IncomingMessage, response: http.ServerResponse) {
          const socket = request.socket;
          seen.push(Object.fromEntries(socket.eventNames().map((name) => [String(name), socket.listenerCount(name)])));
          const body = `ok ${request.url?.slice(3)}`;
          response.writeHead(200, { "content-length": Buffer.byteLength(body) });
          response.end(body);
        },
      },
    });
  });
  after(async () => {
    await front.close(0);
  });

  it(`adds no listener to the connection per request over ${REQUESTS.toLocaleString("en-US")} requests`, async () => {
    seen.length = 0;
    const socket = net.connect(front.port, "127.0.0.1");
    await once(socket, "connect");
    try {
      await requests(socket, REQUESTS);
    } finally {
      socket.destroy();
    }
    assert.equal(seen.length, REQUESTS);
    // The second request is the first after a response: every per-connection listener exists by then.
    const second = seen[1] as Record<string, number>;
    const last = seen[REQUESTS - 1] as Record<string, number>;
    assert.deepEqual(last, second, "listeners on the connection at its last request vs its second");
    assert.ok((last.close ?? 0) < 10, `close listeners: ${last.close}`);
  });

  it("still closes a connection whose next request head drips in too slowly, after many requests on it", async () => {
    const socket = net.connect(front.port, "127.0.0.1");
    socket.on("error", () => {});
    await once(socket, "connect");
    await requests(socket, 200);
    const closed = once(socket, "close");
    const started = Date.now();
    const head = "GET /n/x HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let i = 0;
    const drip = setInterval(() => {
      if (i < head.length && !socket.destroyed) socket.write(head[i++] as string);
    }, 50);
    try {
      await closed;
    } finally {
      clearInterval(drip);
    }
    assert.ok(i < head.length, "the whole head got through");
    const waited = Date.now() - started;
    assert.ok(waited >= HEADER_TIMEOUT_MS - 50 && waited < HEADER_TIMEOUT_MS + 1_500, `closed after ${waited} ms`);
  });

  it("keeps a connection whose requests come in time, each within the header timeout of the last answer", async () => {
    const socket = net.connect(front.port, "127.0.0.1");
    await once(socket, "connect");
    try {
      // Eight pauses of 60% of the timeout: longer in total than the timeout, each shorter.
      for (let i = 0; i < 8; i++) {
        await requests(socket, 1);
        await new Promise((resolve) => setTimeout(resolve, HEADER_TIMEOUT_MS * 0.6));
      }
      assert.equal(socket.destroyed, false);
      await requests(socket, 1);
    } finally {
      socket.destroy();
    }
  });
});
