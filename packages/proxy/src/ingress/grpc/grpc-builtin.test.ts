/**
 * gRPC on the front port's own HTTP/2 server, against Node's HTTP/2 client over a real
 * socket: a server-streaming call to a client that stops reading holds the replies back
 * (the dispatcher is not drained into memory), and an answer that comes before the request
 * ended stops the client's upload. The dispatcher and model are stand-ins: what is under
 * test is the stream handling between them and the socket.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import * as http2 from "node:http2";
import * as net from "node:net";
import { after, before, describe, it } from "node:test";
import type { MethodModel, ServiceModel } from "../../descriptors/service-model.js";
import { Code, SwitchboardError } from "../../errors/index.js";
import { frameMessage } from "../../internal/grpc-framing.js";
import { createLogger } from "../../observability/logger.js";
import type { Dispatcher, Reply } from "../../router/types.js";
import { DEFAULT_CONNECTION_LIMITS } from "../connection-guard.js";
import { serveFrontConnection } from "../h2/front-connection.js";
import { createBuiltinGrpcHandler } from "./grpc-builtin.js";

const MESSAGE = 8 * 1024;
const TOTAL = 600; // 4.8 MB of replies: far more than the client's window and the 1 MiB the server may queue

/** Counts what the dispatcher handed out. */
const pulled = { count: 0 };

const methods = new Map<string, MethodModel>([
  ["/t.S/Many", { kind: "server_streaming" } as unknown as MethodModel],
  ["/t.S/Refuse", { kind: "client_streaming" } as unknown as MethodModel],
]);
const models = { current: () => ({ methodsByPath: methods, services: new Map() }) as unknown as ServiceModel };

const dispatcher: Dispatcher = {
  unary: () => Promise.reject(new Error("not used")),
  async *stream(invocation, requests) {
    if (invocation.method === methods.get("/t.S/Refuse")) {
      // Answers at once, without reading the upload.
      throw new SwitchboardError("refused before the upload ended", Code.PermissionDenied);
    }
    for await (const _ of requests) break;
    for (let i = 0; i < TOTAL; i++) {
      pulled.count++;
      yield { payload: { $typeName: "google.protobuf.Any", typeUrl: "t/M", value: new Uint8Array(MESSAGE).fill(i % 256) } } as Reply;
    }
  },
  deliver: () => Promise.reject(new Error("not used")),
};

describe("gRPC on the front port's own HTTP/2 server", () => {
  let server: net.Server;
  let port: number;
  before(async () => {
    const logger = createLogger({ level: "error" });
    const grpc = createBuiltinGrpcHandler({
      models,
      dispatcher,
      maxMessageSize: 1024 * 1024,
      requestQueueLimit: 4,
      clientMessage: (error) => error.message,
      logger,
    });
    server = net.createServer((socket) => {
      socket.on("error", () => {});
      serveFrontConnection(socket, {
        limits: DEFAULT_CONNECTION_LIMITS,
        logger,
        overCap: false,
        onStream: (stream, headers, end) => grpc(stream, headers, end),
        onClose: () => {},
      });
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    port = (server.address() as net.AddressInfo).port;
  });
  after(() => server.close());

  it("stops pulling replies while a server-streaming client does not read, and delivers them all once it does", async () => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      const stream = session.request({ ":method": "POST", ":path": "/t.S/Many", "content-type": "application/grpc", te: "trailers" });
      stream.end(frameMessage(new Uint8Array(0)));
      await once(stream, "response");
      stream.pause(); // reads nothing: the client gives no window back
      await new Promise((r) => setTimeout(r, 500));
      const whilePaused = pulled.count;
      // The client's 64 KiB window plus the 1 MiB the server queues, and one reply in flight: about 140 replies of 8 KiB.
      assert.ok(whilePaused < 200, `pulled ${whilePaused} of ${TOTAL} replies while the client read nothing`);
      let bytes = 0;
      stream.on("data", (chunk: Buffer) => {
        bytes += chunk.length;
      });
      stream.resume();
      const [trailers] = (await once(stream, "trailers")) as [http2.IncomingHttpHeaders];
      await once(stream, "close");
      assert.equal(trailers["grpc-status"], "0");
      assert.equal(bytes, TOTAL * (MESSAGE + 5));
      assert.equal(pulled.count, TOTAL);
    } finally {
      session.close();
    }
  });

  it("answers an upload it refuses at once, and resets the rest of the upload with NO_ERROR", async () => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      const stream = session.request({ ":method": "POST", ":path": "/t.S/Refuse", "content-type": "application/grpc", te: "trailers" });
      stream.write(frameMessage(new Uint8Array(100))); // the request never ends
      const [headers] = (await once(stream, "response")) as [http2.IncomingHttpHeaders];
      await once(stream, "close");
      assert.equal(headers["grpc-status"], String(Code.PermissionDenied));
      assert.match(String(headers["grpc-message"]), /refused before the upload ended/);
      assert.equal(stream.rstCode, http2.constants.NGHTTP2_NO_ERROR);
    } finally {
      session.close();
    }
  });
});
