import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { FrameParser } from "./grpc-framing.js";

/** A full garbage collection (the flag is set for this test process only). */
function collectGarbage(): void {
  setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
}

/** One framed message in a chunk of its own memory (not a view of Node's shared buffer pool). */
function chunkOf(payload: string): Buffer {
  const body = Buffer.from(payload);
  const chunk = Buffer.alloc(5 + body.length);
  chunk.writeUInt32BE(body.length, 1);
  body.copy(chunk, 5);
  return chunk;
}

describe("FrameParser", () => {
  it("lets go of a chunk once every message in it has been read (a long-lived stream would keep it otherwise)", async () => {
    const parser = new FrameParser(1024);
    let chunk: Buffer | undefined = chunkOf("hello");
    const memory = new WeakRef(chunk.buffer);
    let messages: Buffer[] | undefined = parser.push(chunk);
    assert.deepEqual(
      messages.map((m) => m.toString()),
      ["hello"],
    );
    assert.equal(parser.pending, false);
    chunk = undefined;
    messages = undefined;
    // A WeakRef target stays alive until the current job ends.
    await new Promise((resolve) => setImmediate(resolve));
    collectGarbage();
    assert.equal(memory.deref(), undefined, "the parser still holds the chunk's memory");
    // And it goes on parsing.
    assert.deepEqual(
      parser.push(chunkOf("again")).map((m) => m.toString()),
      ["again"],
    );
  });

  it("keeps a partial message across chunks", () => {
    const parser = new FrameParser(1024);
    const whole = Buffer.concat([chunkOf("first"), chunkOf("second")]);
    assert.deepEqual(
      parser.push(whole.subarray(0, 14)).map((m) => m.toString()),
      ["first"],
    );
    assert.equal(parser.pending, true);
    assert.deepEqual(
      parser.push(whole.subarray(14)).map((m) => m.toString()),
      ["second"],
    );
    assert.equal(parser.pending, false);
  });
});
