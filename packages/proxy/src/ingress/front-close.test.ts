/**
 * Closing the front port while a connection has not yet shown its protocol: once it turns
 * out to be HTTP/2, it is told GOAWAY at once and its first stream is not served (the
 * client retries it elsewhere). The proxy's own HTTP/2 server, real sockets.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import * as net from "node:net";
import { describe, it } from "node:test";
import { ErrorCode, FRAME_HEADER, Flag, FrameType, frame, PREFACE, settingsFrame } from "../http2/frames.js";
import { encodeHeaderBlock } from "../http2/hpack.js";
import { createLogger } from "../observability/logger.js";
import { createFrontServer } from "./server.js";

describe("closing the front port", () => {
  it("tells an HTTP/2 connection that shows its preface only after the close began GOAWAY, and serves none of its streams", async () => {
    let served = 0;
    const front = await createFrontServer({
      host: "127.0.0.1",
      port: 0,
      logger: createLogger({ level: "error" }),
      handlers: {
        onBuiltinStream(stream) {
          served++;
          stream.sendHeaders(encodeHeaderBlock([[":status", "204"]]), true);
        },
        onHttp2Stream() {},
        onHttp1Request(_request, response) {
          response.end();
        },
      },
    });
    const socket = net.connect(front.port, "127.0.0.1");
    socket.on("error", () => {});
    await once(socket, "connect");
    const received: { type: number; id: number; payload: Buffer }[] = [];
    let input = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      input = Buffer.concat([input, chunk]);
      while (input.length >= FRAME_HEADER && input.length >= FRAME_HEADER + input.readUIntBE(0, 3)) {
        const length = input.readUIntBE(0, 3);
        received.push({ type: input[3] as number, id: input.readUInt32BE(5) & 0x7fffffff, payload: input.subarray(FRAME_HEADER, FRAME_HEADER + length) });
        input = input.subarray(FRAME_HEADER + length);
      }
    });
    const closed = front.close(2000);
    const head = encodeHeaderBlock([
      [":method", "GET"],
      [":scheme", "http"],
      [":path", "/alive"],
      [":authority", "localhost"],
    ]);
    socket.write(Buffer.concat([PREFACE, settingsFrame([]), frame(FrameType.Headers, Flag.EndHeaders | Flag.EndStream, 1, head)]));
    await once(socket, "close");
    await closed;
    const goaways = received.filter((f) => f.type === FrameType.Goaway);
    assert.equal(goaways.length, 1, `frames received: ${received.map((f) => f.type).join(",")}`);
    assert.equal(goaways[0]?.payload.readUInt32BE(0), 0, "GOAWAY takes no stream");
    assert.equal(goaways[0]?.payload.readUInt32BE(4), ErrorCode.NoError);
    assert.equal(served, 0);
    assert.equal(
      received.some((f) => f.type === FrameType.Headers),
      false,
      "no answer on stream 1",
    );
  });
});
