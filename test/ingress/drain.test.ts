/**
 * Stopping with HTTP/1.1 keep-alive clients attached, through the real proxy process: a
 * call in progress at SIGTERM is answered in full with `connection: close` and its
 * connection is then closed, and an idle connection is closed without waiting for its
 * keep-alive timeout or the drain grace.
 */
import assert from "node:assert/strict";
import * as net from "node:net";
import { after, before, describe, it } from "node:test";
import { type EchoUserFunction, startEchoUserFunction, TRANSCODING_SERVICE } from "../http/support/echo-user-function.js";
import { eventually } from "../support/grpc-client.js";
import { type ProxyProcess, startProxy } from "../support/proxy-process.js";

/** One raw keep-alive connection; `get` sends a request and reads its whole answer. */
function keepAlive(port: number) {
  const socket = net.connect(port, "127.0.0.1");
  let buffered = "";
  let waiting: (() => void) | undefined;
  const ended = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  let isEnded = false;
  void ended.then(() => {
    isEnded = true;
    waiting?.();
  });
  socket.setEncoding("utf8");
  socket.on("data", (chunk: string) => {
    buffered += chunk;
    waiting?.();
  });
  socket.on("error", () => {});
  return {
    ended,
    isEnded: () => isEnded,
    /** Resolves with the answer's head, or undefined when the connection closed first. */
    async request(method: string, path: string, body = ""): Promise<string | undefined> {
      if (!isEnded) {
        const head = `${method} ${path} HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n`;
        socket.write(head + body);
      }
      for (;;) {
        const head = buffered.indexOf("\r\n\r\n");
        if (head >= 0) {
          const length = Number(/content-length: (\d+)/i.exec(buffered.slice(0, head))?.[1] ?? 0);
          if (buffered.length >= head + 4 + length) {
            const answer = buffered.slice(0, head);
            buffered = buffered.slice(head + 4 + length);
            return answer;
          }
        }
        if (isEnded) return undefined;
        await new Promise<void>((resolve) => {
          waiting = resolve;
        });
      }
    },
  };
}

describe("stopping with HTTP/1.1 keep-alive connections", () => {
  let uf: EchoUserFunction;
  let proxy: ProxyProcess;

  before(async () => {
    uf = await startEchoUserFunction();
    proxy = await startProxy({ userFunctionPort: uf.port });
  });
  after(async () => {
    await proxy.stop();
    await uf.close();
  });

  it("answers the call in progress with connection: close, then closes its connection and the idle one", async () => {
    const busy = keepAlive(proxy.port);
    const idle = keepAlive(proxy.port);
    assert.match((await busy.request("GET", "/alive")) ?? "", /^HTTP\/1\.1 200/);
    assert.match((await idle.request("GET", "/alive")) ?? "", /^HTTP\/1\.1 200/);

    const slow = busy.request("POST", `/${TRANSCODING_SERVICE}/Slow`, JSON.stringify({ delayMs: 2000 }));
    await eventually(() => uf.commands.some((c) => c.command.name === "Slow"), 10_000, "the slow call reaching the user function");
    const exited = proxy.stop();
    const answer = await slow;
    assert.match(answer ?? "", /^HTTP\/1\.1 200/, "the call in progress is answered");
    assert.match(answer ?? "", /connection: close/i, "and told that its connection closes");
    assert.equal(await busy.request("GET", "/alive"), undefined, "nothing more is served on it");
    await busy.ended;
    await idle.ended;
    assert.equal(await exited, 0);
  });
});
