import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setImmediate as nextTurn } from "node:timers/promises";
import { Client, type ClientDuplexStream, credentials, Server, type ServerDuplexStream, ServerCredentials } from "@grpc/grpc-js";
import { readMessages } from "./grpc-streams.js";

// A bidi method over raw bytes on a real grpc-js server and client: what the SDK's entity streams ride on.
const PATH = "/test.Streams/Talk";
const identity = (b: Buffer): Buffer => b;
type Talk = (call: ServerDuplexStream<Buffer, Buffer>) => void;

describe("readMessages()", () => {
  let server: Server;
  let client: Client;
  let handler: Talk = () => {};

  before(async () => {
    server = new Server();
    server.addService(
      {
        Talk: {
          path: PATH,
          requestStream: true,
          responseStream: true,
          requestSerialize: identity,
          requestDeserialize: identity,
          responseSerialize: identity,
          responseDeserialize: identity,
        },
      },
      { Talk: (call: ServerDuplexStream<Buffer, Buffer>) => handler(call) },
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, p) => (error ? reject(error) : resolve(p))),
    );
    client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  });
  after(() => {
    client.close();
    server.forceShutdown();
  });

  function talk(): { stream: ClientDuplexStream<Buffer, Buffer>; replies: Promise<string[]>; status: Promise<number> } {
    const stream = client.makeBidiStreamRequest(PATH, identity, identity);
    const received: string[] = [];
    stream.on("data", (b: Buffer) => received.push(b.toString()));
    const status = new Promise<number>((resolve) => stream.on("status", (s: { code: number }) => resolve(s.code)));
    stream.on("error", () => {});
    return { stream, replies: status.then(() => received), status };
  }

  it("yields every message in order to a slow reader, ends at the client's half-close, and leaves the call open to answer", async () => {
    const seen: string[] = [];
    handler = (call) => {
      void (async () => {
        let i = 0;
        for await (const message of readMessages<Buffer>(call)) {
          seen.push(message.toString());
          // A reader slower than the sender: the queue fills past its read-ahead and the call is paused.
          if (i++ % 3 === 0) await new Promise((r) => setTimeout(r, 1));
        }
        call.write(Buffer.from(`read ${seen.length}`));
        call.end();
      })();
    };
    const { stream, replies, status } = talk();
    for (let i = 0; i < 200; i++) stream.write(Buffer.from(`m${i}`));
    stream.end();
    assert.equal(await status, 0);
    assert.deepEqual(
      seen,
      Array.from({ length: 200 }, (_, i) => `m${i}`),
    );
    assert.deepEqual(await replies, ["read 200"]);
  });

  it("ends without an error when the client cancels", async () => {
    let ended: (outcome: string) => void = () => {};
    const outcome = new Promise<string>((resolve) => (ended = resolve));
    const gotFirst = resolvers();
    handler = (call) => {
      void (async () => {
        let count = 0;
        try {
          for await (const _ of readMessages<Buffer>(call)) {
            count++;
            gotFirst.resolve();
          }
          ended(`ended after ${count}`);
        } catch (error) {
          ended(`threw ${String(error)}`);
        }
      })();
    };
    const { stream } = talk();
    stream.write(Buffer.from("one"));
    await gotFirst.promise;
    stream.cancel();
    assert.equal(await outcome, "ended after 1");
  });

  it("leaves the call open when the reader stops early, and reads no further", async () => {
    handler = (call) => {
      void (async () => {
        const taken: string[] = [];
        for await (const message of readMessages<Buffer>(call)) {
          taken.push(message.toString());
          if (taken.length === 2) break;
        }
        await nextTurn();
        call.write(Buffer.from(`took ${taken.join(",")}`));
        call.end();
      })();
    };
    const { stream, replies, status } = talk();
    for (const m of ["a", "b", "c", "d"]) stream.write(Buffer.from(m));
    assert.deepEqual(await replies, ["took a,b"]);
    assert.equal(await status, 0);
    stream.end();
  });
});

/** A promise and its resolve function (Node 20 has no `Promise.withResolvers`). */
function resolvers(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => {};
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
