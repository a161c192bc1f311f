/**
 * The proxy's own HTTP/1.1 on the front port: the requests it serves come out as clients
 * expect them (one write per answer, keep-alive, pipelining, chunked streams, closes),
 * and every request it does not serve reaches Node's HTTP/1.1 server whole, on the same
 * connection, answered as Node answers it. The front server in this process, raw sockets
 * and Node's HTTP client.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import * as http from "node:http";
import * as net from "node:net";
import { after, before, describe, it } from "node:test";
import { createLogger } from "../../observability/logger.js";
import { type HttpExchange, http1Exchange } from "../http/exchange.js";
import { readBody } from "../http/read-body.js";
import { createFrontServer, type FrontServer } from "../server.js";
import { LEAN_BODY_LIMIT, parseHead } from "./lean-connection.js";

/** What the test server saw of each request. */
interface Seen {
  stack: "lean" | "node";
  method: string;
  url: string;
  headers: Record<string, unknown>;
  body: string;
}

async function serve(exchange: HttpExchange, stack: "lean" | "node", seen: Seen[], aborted: string[]): Promise<void> {
  const read = await readBody(exchange, 1024 * 1024);
  const body = read.value?.toString("utf8") ?? `(error: ${read.error?.message})`;
  seen.push({ stack, method: exchange.method, url: exchange.url, headers: { ...exchange.headers }, body });
  const url = exchange.url;
  if (url === "/stream") {
    exchange.respond(200, { "content-type": "application/x-ndjson" });
    for (let i = 0; i < 3; i++) await exchange.write(`{"n":${i}}\n`);
    exchange.end();
    return;
  }
  if (url === "/big-stream") {
    exchange.respond(200, { "content-type": "application/octet-stream" });
    const chunk = Buffer.alloc(256 * 1024, 120);
    for (let i = 0; i < 40; i++) await exchange.write(chunk);
    exchange.end();
    return;
  }
  if (url === "/hang") {
    exchange.signal.addEventListener("abort", () => aborted.push(url));
    return;
  }
  if (url === "/bad-header") {
    exchange.respond(200, { "x-evil": "a\r\nx-injected: 1" });
    exchange.end("no");
    return;
  }
  if (url.startsWith("/slow")) {
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const text = `${stack} ${exchange.method} ${url} ${body}`;
  exchange.respond(201, { "content-type": "text/plain", "content-length": Buffer.byteLength(text), "x-stack": stack });
  exchange.end(text);
}

async function startFront(limits: { idleTimeoutMs?: number } = {}) {
  const seen: Seen[] = [];
  const aborted: string[] = [];
  const front = await createFrontServer({
    host: "127.0.0.1",
    port: 0,
    logger: createLogger({ level: "error" }),
    limits: { headerTimeoutMs: 2000, maxHeaderSize: 4096, ...limits },
    handlers: {
      onBuiltinStream() {},
      onHttp2Stream() {},
      onHttp1Request(request, response) {
        serve(http1Exchange(request, response), "node", seen, aborted).catch(() => response.destroy());
      },
      onHttp1Exchange(exchange) {
        serve(exchange, "lean", seen, aborted).catch(() => {
          // As the JSON handler does: a failure before the head went out is answered.
          exchange.respond(500, { "content-length": 0 });
          exchange.end();
        });
      },
    },
  });
  return { front, seen, aborted };
}

/** A raw connection that collects what it receives. */
async function connect(port: number) {
  const socket = net.connect(port, "127.0.0.1");
  socket.on("error", () => {});
  let received = "";
  socket.on("data", (chunk: Buffer) => {
    received += chunk.toString("latin1");
  });
  let closed = false;
  socket.once("close", () => {
    closed = true;
  });
  await once(socket, "connect");
  return {
    socket,
    get received() {
      return received;
    },
    get closed() {
      return closed;
    },
    async waitFor(predicate: (text: string) => boolean, what: string, ms = 3000): Promise<string> {
      const deadline = Date.now() + ms;
      while (!predicate(received)) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; received: ${JSON.stringify(received)}`);
        await new Promise((r) => setTimeout(r, 5));
      }
      return received;
    },
    async waitClosed(ms = 3000): Promise<void> {
      const deadline = Date.now() + ms;
      while (!closed) {
        if (Date.now() > deadline) throw new Error(`still open; received: ${JSON.stringify(received)}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    },
  };
}

/** Splits raw responses (with content-length bodies) in order. */
function responses(text: string): { status: number; headers: Record<string, string>; body: string }[] {
  const out: { status: number; headers: Record<string, string>; body: string }[] = [];
  let rest = text;
  while (rest.length > 0) {
    const end = rest.indexOf("\r\n\r\n");
    if (end < 0) break;
    const [statusLine, ...lines] = rest.slice(0, end).split("\r\n");
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(":");
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers["content-length"] ?? 0);
    out.push({ status: Number(statusLine?.split(" ")[1]), headers, body: rest.slice(end + 4, end + 4 + length) });
    rest = rest.slice(end + 4 + length);
  }
  return out;
}

const post = (path: string, body: string, extra = "") =>
  `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;

describe("the proxy's own HTTP/1.1", () => {
  let front: FrontServer;
  let seen: Seen[];
  let aborted: string[];

  before(async () => {
    ({ front, seen, aborted } = await startFront());
  });
  after(async () => {
    await front.close(0);
  });

  it("answers a request in one write: status line, its headers, date, keep-alive, body", async () => {
    const c = await connect(front.port);
    let writes = 0;
    c.socket.on("data", () => writes++);
    c.socket.write(post("/a", '{"v":1}', "X-Trace:  spaced value \t\r\n"));
    await c.waitFor((t) => t.endsWith('lean POST /a {"v":1}'), "the answer");
    const [r] = responses(c.received);
    assert.match(c.received, /^HTTP\/1\.1 201 Created\r\n/);
    assert.equal(r?.headers["x-stack"], "lean");
    assert.equal(r?.headers.connection, "keep-alive");
    assert.ok(!Number.isNaN(Date.parse(r?.headers.date ?? "")), "a date header");
    assert.equal(writes, 1);
    const request = seen.at(-1);
    assert.equal(request?.headers["x-trace"], "spaced value", "header names lower-cased, values trimmed");
    assert.equal(request?.headers.host, "x");
    c.socket.destroy();
  });

  it("serves many requests on one connection, pipelined ones in order, and a body that arrives after its head", async () => {
    const c = await connect(front.port);
    c.socket.write(post("/1", "one") + post("/slow-2", "two") + post("/3", "three"));
    await c.waitFor((t) => responses(t).length === 3, "three answers");
    assert.deepEqual(
      responses(c.received).map((r) => r.body),
      ["lean POST /1 one", "lean POST /slow-2 two", "lean POST /3 three"],
    );
    const text = post("/4", "a body sent later");
    const split = text.indexOf("\r\n\r\n") + 6;
    c.socket.write(text.slice(0, split));
    await new Promise((r) => setTimeout(r, 50));
    c.socket.write(text.slice(split));
    await c.waitFor((t) => responses(t).length === 4, "the fourth answer");
    assert.equal(responses(c.received)[3]?.body, "lean POST /4 a body sent later");
    c.socket.destroy();
  });

  it("streams an answer without a length as chunks that Node's client reads back whole", async () => {
    const body = await new Promise<string>((resolve, reject) => {
      http
        .get({ host: "127.0.0.1", port: front.port, path: "/stream", agent: false }, (response) => {
          assert.equal(response.headers["transfer-encoding"], "chunked");
          let text = "";
          response.setEncoding("utf8");
          response.on("data", (d: string) => {
            text += d;
          });
          response.on("end", () => resolve(text));
        })
        .on("error", reject);
    });
    assert.equal(body, '{"n":0}\n{"n":1}\n{"n":2}\n');
    assert.equal(seen.at(-1)?.stack, "lean");
  });

  it("waits for a slow reader of a long stream (backpressure) and delivers every byte", async () => {
    const total = await new Promise<number>((resolve, reject) => {
      http
        .get({ host: "127.0.0.1", port: front.port, path: "/big-stream", agent: false }, (response) => {
          let bytes = 0;
          response.on("data", (d: Buffer) => {
            bytes += d.length;
            response.pause();
            setTimeout(() => response.resume(), 1);
          });
          response.on("end", () => resolve(bytes));
        })
        .on("error", reject);
    });
    assert.equal(total, 40 * 256 * 1024);
  });

  it("aborts the call's signal when the client leaves before the answer", async () => {
    const c = await connect(front.port);
    c.socket.write("GET /hang HTTP/1.1\r\nHost: x\r\n\r\n");
    const deadline = Date.now() + 2000;
    while (!seen.some((s) => s.url === "/hang") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    c.socket.destroy();
    while (!aborted.includes("/hang") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(aborted, ["/hang"]);
  });

  it("closes after the answer when the client asks for connection: close, and answers nothing pipelined after it", async () => {
    const c = await connect(front.port);
    const before = seen.length;
    c.socket.write("GET /bye HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /after-bye HTTP/1.1\r\nHost: x\r\n\r\n");
    await c.waitClosed();
    const all = responses(c.received);
    assert.equal(all.length, 1);
    assert.equal(all[0]?.headers.connection, "close");
    assert.equal(all[0]?.body, "lean GET /bye ");
    assert.deepEqual(
      seen.slice(before).map((s) => s.url),
      ["/bye"],
    );
  });

  it("refuses to write a response header with a line break: nothing is injected and the failure is answered", async () => {
    const c = await connect(front.port);
    c.socket.write("GET /bad-header HTTP/1.1\r\nHost: x\r\n\r\n");
    await c.waitFor((t) => t.includes("\r\n\r\n"), "an answer");
    assert.match(c.received, /^HTTP\/1\.1 500 /);
    assert.equal(c.received.includes("x-injected"), false);
    c.socket.destroy();
  });

  const handedOver: [string, string, (s: Seen | undefined) => void][] = [
    [
      "a chunked body",
      "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
      (s) => assert.equal(s?.body, "abcde"),
    ],
    ["Expect: 100-continue", `${post("/e", "xyz", "Expect: 100-continue\r\n")}`, (s) => assert.equal(s?.body, "xyz")],
    ["HTTP/1.0", "GET /old HTTP/1.0\r\nHost: x\r\n\r\n", (s) => assert.equal(s?.url, "/old")],
    ["HEAD", "HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n", (s) => assert.equal(s?.method, "HEAD")],
    ["a header given twice", "GET /d HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nX-A: 2\r\n\r\n", (s) => assert.equal(s?.headers["x-a"], "1, 2")],
    ["a byte outside ASCII", "GET /u HTTP/1.1\r\nHost: x\r\nX-Name: caf\xe9\r\n\r\n", (s) => assert.equal(s?.url, "/u")],
    ["an absolute-form target", "GET http://x/abs HTTP/1.1\r\nHost: x\r\n\r\n", (s) => assert.equal(s?.url, "http://x/abs")],
    ["a body over the lean limit", post("/big", "z".repeat(LEAN_BODY_LIMIT + 1)), (s) => assert.equal(s?.body.length, LEAN_BODY_LIMIT + 1)],
  ];
  for (const [what, request, check] of handedOver) {
    it(`hands ${what} to Node's server on the same connection, after a request it served itself`, async () => {
      const c = await connect(front.port);
      c.socket.write(post("/first", "1"));
      await c.waitFor((t) => t.includes("lean POST /first 1"), "the first answer");
      const before = seen.length;
      c.socket.write(request, "latin1");
      await c.waitFor(() => seen.length > before, "the request at Node's server");
      const got = seen[before];
      assert.equal(got?.stack, "node", what);
      check(got);
      // Node's server keeps the connection from here on.
      if (!request.startsWith("HEAD") && !request.includes("HTTP/1.0")) {
        c.socket.write(post("/after", "2"));
        await c.waitFor(() => seen.length > before + 1, "the next request");
        assert.equal(seen[before + 1]?.stack, "node");
      }
      c.socket.destroy();
    });
  }

  it("leaves malformed requests and oversized heads to Node's answers (400, 431)", async () => {
    const bad = await connect(front.port);
    bad.socket.write("GET /x HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n");
    await bad.waitFor((t) => t.startsWith("HTTP/1.1 400"), "400");
    const big = await connect(front.port);
    big.socket.write(`GET /x HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(5000)}\r\n\r\n`);
    await big.waitFor((t) => t.startsWith("HTTP/1.1 431"), "431");
    const noHost = await connect(front.port);
    noHost.socket.write("GET /x HTTP/1.1\r\n\r\n");
    await noHost.waitFor((t) => t.startsWith("HTTP/1.1 400"), "400 without Host");
    for (const c of [bad, big, noHost]) c.socket.destroy();
  });

  it("parses only heads it can read one way", () => {
    assert.deepEqual(parseHead("GET /p?q=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 0"), {
      method: "GET",
      url: "/p?q=1",
      headers: { host: "h", "content-length": "0" },
      contentLength: 0,
      close: false,
    });
    for (const head of [
      "GET /p HTTP/1.1\r\nHost: h\r\n folded",
      "GET /p HTTP/1.1\r\nHost: h\r\nX: a\rb",
      "GET /p HTTP/1.1\r\nHost: h\nX: 1",
      "GET  /p HTTP/1.1\r\nHost: h",
      "get /p HTTP/1.1\r\nHost: h",
      "GET /p HTTP/1.1 x\r\nHost: h",
      "GET /p HTTP/1.1\r\nHost: h\r\nContent-Length: -1",
      "GET /p HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 1",
      "GET /p HTTP/1.1\r\nHost: h\r\nConnection: Upgrade",
      "GET /p HTTP/1.1\r\nHost: h\r\nUpgrade: websocket",
      "GET /p HTTP/1.1\r\nHost: h\r\nX\u0000: 1",
      "GET /p HTTP/1.1\r\nHost: h\r\n: empty name",
      "CONNECT /p HTTP/1.1\r\nHost: h",
    ]) {
      assert.equal(parseHead(head), undefined, JSON.stringify(head));
    }
  });
});

describe("the proxy's own HTTP/1.1 and the port's timeouts and close", () => {
  it("closes an idle connection after the keep-alive time and a dripping body after the idle timeout, and a closing port ends idle connections and busy ones after their answer", async () => {
    const { front } = await startFront({ idleTimeoutMs: 300 });
    try {
      const idle = await connect(front.port);
      idle.socket.write(post("/x", "1"));
      await idle.waitFor((t) => t.includes("lean POST /x 1"), "the answer");
      const answered = Date.now();
      await idle.waitClosed(3000);
      assert.ok(Date.now() - answered >= 250, "not before the keep-alive time");

      // A body that drips in (so the socket is never idle) must still be in within the idle timeout.
      const drip = await connect(front.port);
      drip.socket.write("POST /drip HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n");
      let sent = 0;
      const dripping = setInterval(() => {
        if (sent < 20 && !drip.closed) {
          drip.socket.write("a");
          sent++;
        }
      }, 60);
      const started = Date.now();
      try {
        await drip.waitClosed(3000);
      } finally {
        clearInterval(dripping);
      }
      assert.ok(sent < 20, "the whole body got through");
      assert.ok(Date.now() - started >= 250, "not before the idle timeout");
      assert.equal(drip.received, "");

      const quiet = await connect(front.port);
      quiet.socket.write(post("/y", "1"));
      await quiet.waitFor((t) => t.includes("lean POST /y 1"), "the answer");
      const busy = await connect(front.port);
      busy.socket.write(post("/slow-z", "1"));
      await new Promise((r) => setTimeout(r, 50));
      const closing = front.close(2000);
      await quiet.waitClosed(1000);
      await busy.waitClosed(2000);
      const [r] = responses(busy.received);
      assert.equal(r?.body, "lean POST /slow-z 1", "the call in progress is answered");
      assert.equal(r?.headers.connection, "close");
      await closing;
    } finally {
      await front.close(0);
    }
  });
});
