import assert from "node:assert/strict";
import { once } from "node:events";
import * as http2 from "node:http2";
import { connect, type Socket } from "node:net";
import { describe, test } from "node:test";
import { encodeHeaderBlock, HpackDecoder, HpackError } from "./hpack.js";
import { HUFFMAN_CODES, HUFFMAN_EOS, HUFFMAN_LENGTHS, huffmanEncode } from "./hpack-huffman.js";

function hex(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));
}

function pairs(list: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < list.length; i += 2) out.push([list[i]!, list[i + 1]!]);
  return out;
}

/** The dynamic table's entries, newest first, read back through indexed references (62, 63, ...). */
function dynamicEntries(decoder: HpackDecoder): [string, string][] {
  const block = [];
  for (let i = 0; i < decoder.dynamicTableLength; i++) block.push(0x80 | (62 + i));
  return pairs(decoder.decode(Uint8Array.from(block)));
}

const latin1Octets = (s: string) => Uint8Array.from(Buffer.from(s, "latin1"));

/** A literal-without-indexing field with a literal name and a Huffman-coded value. */
function huffmanLiteral(name: string, valueOctets: Uint8Array): Uint8Array {
  const coded = huffmanEncode(valueOctets);
  assert.ok(coded.length < 127 && name.length < 127);
  return Uint8Array.from([0x00, name.length, ...latin1Octets(name), 0x80 | coded.length, ...coded]);
}

describe("HPACK Huffman code", () => {
  test("matches the RFC 7541 Appendix B code at sample symbols", () => {
    const samples: [number, number, number][] = [
      [0, 0x1ff8, 13],
      [32, 0x14, 6],
      [48, 0x0, 5],
      [97, 0x3, 5],
      [127, 0xffffffc, 28],
      [255, 0x3ffffee, 26],
      [HUFFMAN_EOS, 0x3fffffff, 30],
    ];
    for (const [symbol, code, length] of samples) {
      assert.equal(HUFFMAN_CODES[symbol], code, `code of ${symbol}`);
      assert.equal(HUFFMAN_LENGTHS[symbol], length, `length of ${symbol}`);
    }
  });

  test("every octet round-trips through encode and decode", () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const coded = huffmanEncode(all);
    // Value length as a 7-bit-prefix integer with the H bit: 127, then base-128 continuation.
    const length = [0xff];
    let rest = coded.length - 127;
    for (; rest >= 128; rest = Math.floor(rest / 128)) length.push(0x80 | (rest % 128));
    length.push(rest);
    const block = Uint8Array.from([0x00, 0x01, 0x78, ...length, ...coded]);
    const [name, value] = new HpackDecoder().decode(block);
    assert.equal(name, "x");
    assert.equal(value, Buffer.from(all).toString("latin1"));
  });
});

describe("RFC 7541 Appendix C examples", () => {
  test("C.2 literal header field representations", () => {
    // C.2.1 literal with indexing, new name.
    let d = new HpackDecoder();
    assert.deepEqual(pairs(d.decode(hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"))), [["custom-key", "custom-header"]]);
    assert.equal(d.dynamicTableSize, 55);
    assert.deepEqual(dynamicEntries(d), [["custom-key", "custom-header"]]);
    // C.2.2 literal without indexing, indexed name.
    d = new HpackDecoder();
    assert.deepEqual(pairs(d.decode(hex("040c 2f73 616d 706c 652f 7061 7468"))), [[":path", "/sample/path"]]);
    assert.equal(d.dynamicTableLength, 0);
    // C.2.3 literal never indexed, new name.
    d = new HpackDecoder();
    assert.deepEqual(pairs(d.decode(hex("1008 7061 7373 776f 7264 0673 6563 7265 74"))), [["password", "secret"]]);
    assert.equal(d.dynamicTableLength, 0);
    // C.2.4 indexed field.
    d = new HpackDecoder();
    assert.deepEqual(pairs(d.decode(hex("82"))), [[":method", "GET"]]);
    assert.equal(d.dynamicTableLength, 0);
  });

  const request1: [string, string][] = [
    [":method", "GET"],
    [":scheme", "http"],
    [":path", "/"],
    [":authority", "www.example.com"],
  ];
  const request2: [string, string][] = [...request1, ["cache-control", "no-cache"]];
  const request3: [string, string][] = [
    [":method", "GET"],
    [":scheme", "https"],
    [":path", "/index.html"],
    [":authority", "www.example.com"],
    ["custom-key", "custom-value"],
  ];

  function requests(blocks: string[]): void {
    const d = new HpackDecoder();
    assert.deepEqual(pairs(d.decode(hex(blocks[0]!))), request1);
    assert.equal(d.dynamicTableSize, 57);
    assert.deepEqual(dynamicEntries(d), [[":authority", "www.example.com"]]);
    assert.deepEqual(pairs(d.decode(hex(blocks[1]!))), request2);
    assert.equal(d.dynamicTableSize, 110);
    assert.deepEqual(dynamicEntries(d), [
      ["cache-control", "no-cache"],
      [":authority", "www.example.com"],
    ]);
    assert.deepEqual(pairs(d.decode(hex(blocks[2]!))), request3);
    assert.equal(d.dynamicTableSize, 164);
    assert.deepEqual(dynamicEntries(d), [
      ["custom-key", "custom-value"],
      ["cache-control", "no-cache"],
      [":authority", "www.example.com"],
    ]);
  }

  test("C.3 requests without Huffman coding, in sequence on one decoder", () => {
    requests([
      "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
      "8286 84be 5808 6e6f 2d63 6163 6865",
      "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
    ]);
  });

  test("C.4 requests with Huffman coding, in sequence on one decoder", () => {
    requests(["8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff", "8286 84be 5886 a8eb 1064 9cbf", "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"]);
  });

  const response1: [string, string][] = [
    [":status", "302"],
    ["cache-control", "private"],
    ["date", "Mon, 21 Oct 2013 20:13:21 GMT"],
    ["location", "https://www.example.com"],
  ];
  const response2: [string, string][] = [[":status", "307"], ...response1.slice(1)];
  const cookie = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";
  const response3: [string, string][] = [
    [":status", "200"],
    ["cache-control", "private"],
    ["date", "Mon, 21 Oct 2013 20:13:22 GMT"],
    ["location", "https://www.example.com"],
    ["content-encoding", "gzip"],
    ["set-cookie", cookie],
  ];

  function responses(blocks: string[]): void {
    const d = new HpackDecoder(256);
    assert.deepEqual(pairs(d.decode(hex(blocks[0]!))), response1);
    assert.equal(d.dynamicTableSize, 222);
    assert.deepEqual(dynamicEntries(d), [...response1].reverse());
    // ":status: 307" evicts ":status: 302", the oldest entry.
    assert.deepEqual(pairs(d.decode(hex(blocks[1]!))), response2);
    assert.equal(d.dynamicTableSize, 222);
    assert.deepEqual(dynamicEntries(d), [[":status", "307"], ...[...response1.slice(1)].reverse()]);
    // Three entries in, four of the old ones evicted.
    assert.deepEqual(pairs(d.decode(hex(blocks[2]!))), response3);
    assert.equal(d.dynamicTableSize, 215);
    assert.deepEqual(dynamicEntries(d), [
      ["set-cookie", cookie],
      ["content-encoding", "gzip"],
      ["date", "Mon, 21 Oct 2013 20:13:22 GMT"],
    ]);
  }

  test("C.5 responses without Huffman coding, 256-octet table with eviction", () => {
    responses([
      `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
       2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
       6c65 2e63 6f6d`,
      "4803 3330 37c1 c0bf",
      `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
       54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
       5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
       3d31`,
    ]);
  });

  test("C.6 responses with Huffman coding, 256-octet table with eviction", () => {
    responses([
      `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
       2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`,
      "4883 640e ffc1 c0bf",
      `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
       77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
       9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
    ]);
  });
});

describe("encodeHeaderBlock", () => {
  test("uses the static table's fully indexed form and static name indexes", () => {
    assert.deepEqual(
      [
        ...encodeHeaderBlock([
          [":method", "POST"],
          [":scheme", "http"],
          [":scheme", "https"],
        ]),
      ],
      [0x83, 0x86, 0x87],
    );
    // content-type is static index 31: 0000 + 15 prefix, continuation 16.
    assert.deepEqual([...encodeHeaderBlock([["content-type", "a"]])], [0x0f, 0x10, 0x01, 0x61]);
    // :path is index 4 (the first ":path" entry), value not "/".
    assert.deepEqual([...encodeHeaderBlock([[":path", "/x"]])], [0x04, 0x02, 0x2f, 0x78]);
    // A name outside the static table goes out literally.
    assert.deepEqual([...encodeHeaderBlock([["te", "trailers"]])], [0x00, 0x02, 0x74, 0x65, 0x08, ...latin1Octets("trailers")]);
    assert.deepEqual([...encodeHeaderBlock([])], []);
  });

  test("round-trips through the decoder: unknown names, empty values, long names and values", () => {
    const fields: [string, string][] = [
      [":method", "POST"],
      [":scheme", "http"],
      [":path", "/cloudstate.Example/Call"],
      [":authority", "localhost:8080"],
      [":authority", ""],
      ["content-type", "application/grpc"],
      ["te", "trailers"],
      ["grpc-timeout", "100m"],
      ["x-empty", ""],
      ["x-long", "v".repeat(300)],
      ["x-".padEnd(200, "n"), "w".repeat(20000)],
      ["x-latin1", "caf\u00e9\u00ff\u0000"],
      [":status", "200"],
      ["accept-encoding", "gzip, deflate"],
    ];
    const block = encodeHeaderBlock(fields);
    const d = new HpackDecoder(4096, 1 << 20);
    assert.deepEqual(pairs(d.decode(block)), fields);
    assert.equal(d.dynamicTableLength, 0, "the encoder never adds to the peer's table");
    // Stateless: a second block decodes the same on the same decoder.
    assert.deepEqual(pairs(d.decode(block)), fields);
  });

  test("refuses characters that are not one octet", () => {
    assert.throws(() => encodeHeaderBlock([["x-name", "snow \u2603"]]), RangeError);
  });
});

describe("HpackDecoder rejects malformed blocks with HpackError", () => {
  const bad: [string, Uint8Array, HpackDecoder?][] = [
    ["indexed field with index 0", hex("80")],
    ["index past the static table on an empty dynamic table", hex("be")],
    ["huge index", hex("ff ff ff ff 07")],
    ["literal with an out-of-range name index", hex("7f 10 01 61")],
    ["literal without indexing, out-of-range name index", hex("0f 30 01 61")],
    ["table size update after a field", hex("82 20")],
    ["table size update above the limit", hex("3f e2 1f")],
    ["table size update above a small limit", hex("3f 02"), new HpackDecoder(32)],
    ["integer above 2^31", hex("0f ff ff ff ff 0f")],
    ["integer with too many continuation octets", hex("ff 80 80 80 80 80 00")],
    ["block ending inside an integer", hex("ff")],
    ["block ending inside a continued integer", hex("ff 80")],
    ["block ending before the name string", hex("40")],
    ["block ending before the value string", hex("00 01 61")],
    ["string longer than the block", hex("40 05 61 62")],
    ["value string longer than the block", hex("00 01 61 7f 7f")],
    ["Huffman string holding EOS", hex("00 01 61 84 ff ff ff ff")],
    ["Huffman EOS followed by a symbol", hex("00 01 61 85 ff ff ff fc 7f")],
    ["Huffman padding longer than 7 bits", hex("00 01 61 82 1f ff")],
    ["Huffman padding of a whole octet", hex("00 01 61 81 ff")],
    ["Huffman padding not all ones", hex("00 01 61 81 18")],
    ["header list over the cap", encodeHeaderBlock([["x-big", "z".repeat(100)]]), new HpackDecoder(4096, 100)],
  ];
  for (const [what, block, decoder] of bad) {
    test(what, () => {
      assert.throws(() => (decoder ?? new HpackDecoder()).decode(block), HpackError);
    });
  }

  test("accepts what sits right at the limits", () => {
    // Table size update to exactly the limit, twice, at the start of a block.
    assert.deepEqual(new HpackDecoder().decode(hex("3f e1 1f 20 82")), [":method", "GET"]);
    // Padding of exactly 7 one-bits ('0' is 00000).
    assert.deepEqual(new HpackDecoder().decode(hex("00 01 61 81 07")), ["a", "0"]);
    // Header list exactly at the cap: 5 + 63 + 32 = 100.
    assert.equal(new HpackDecoder(4096, 100).decode(encodeHeaderBlock([["x-big", "z".repeat(63)]])).length, 2);
  });

  test("a table size update evicts, and an entry larger than the table empties it", () => {
    const d = new HpackDecoder();
    d.decode(hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"));
    assert.equal(d.dynamicTableLength, 1);
    d.decode(hex("20"));
    assert.equal(d.dynamicTableLength, 0);
    assert.throws(() => d.decode(hex("be")), HpackError);
    // Back to 40 octets: "custom-key: custom-header" (55) does not fit, so nothing is stored.
    d.decode(hex("3f 09 400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"));
    assert.equal(d.dynamicTableLength, 0);
    assert.equal(d.dynamicTableSize, 0);
  });

  test("random blocks either decode or throw HpackError, and never hang", () => {
    // A fixed-seed generator so a failure reproduces.
    let seed = 0x2545f491;
    const next = () => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return seed >>> 0;
    };
    const d = new HpackDecoder(4096, 8192);
    let decoded = 0;
    let rejected = 0;
    for (let i = 0; i < 3000; i++) {
      const block = Uint8Array.from({ length: next() % 48 }, () => next() & 0xff);
      try {
        d.decode(block);
        decoded++;
      } catch (error) {
        if (!(error instanceof HpackError)) throw error;
        rejected++;
      }
    }
    assert.ok(decoded > 0 && rejected > 0, `decoded ${decoded}, rejected ${rejected}`);
  });
});

describe("HpackDecoder on typical gRPC blocks", () => {
  test("a gRPC response and trailers block decode twice on one decoder", () => {
    const head = Uint8Array.from([
      0x88,
      ...huffmanLiteral("content-type", latin1Octets("application/grpc")),
      ...huffmanLiteral("date", latin1Octets("Thu, 03 Dec 2026 16:37:50 GMT")),
    ]);
    const trailers = Uint8Array.from([...huffmanLiteral("grpc-status", latin1Octets("0")), ...huffmanLiteral("grpc-message", latin1Octets("some text"))]);
    const d = new HpackDecoder();
    for (let round = 0; round < 2; round++) {
      assert.deepEqual(d.decode(head), [":status", "200", "content-type", "application/grpc", "date", "Thu, 03 Dec 2026 16:37:50 GMT"]);
      assert.deepEqual(d.decode(trailers), ["grpc-status", "0", "grpc-message", "some text"]);
    }
  });
});

// ---- Against node:http2 (nghttp2) as the peer, over a raw socket with minimal framing. ----

const FRAME_DATA = 0x0;
const FRAME_HEADERS = 0x1;
const FRAME_SETTINGS = 0x4;
const FRAME_GOAWAY = 0x7;
const FRAME_CONTINUATION = 0x9;
const FLAG_END_STREAM = 0x1;
const FLAG_ACK = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;

function frame(type: number, flags: number, streamId: number, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, payload]);
}

interface HeaderBlock {
  readonly streamId: number;
  readonly endStream: boolean;
  readonly block: Uint8Array;
}

/** Reads frames until both streams ended, answering SETTINGS with an ACK; yields each complete header block. */
async function readHeaderBlocks(socket: Socket, streams: number): Promise<HeaderBlock[]> {
  const blocks: HeaderBlock[] = [];
  let buffered = Buffer.alloc(0);
  let pending: { streamId: number; endStream: boolean; parts: Buffer[] } | undefined;
  let ended = 0;
  for await (const chunk of socket as AsyncIterable<Buffer>) {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 9) {
      const length = buffered.readUIntBE(0, 3);
      if (buffered.length < 9 + length) break;
      const type = buffered[3]!;
      const flags = buffered[4]!;
      const streamId = buffered.readUInt32BE(5) & 0x7fffffff;
      let payload = buffered.subarray(9, 9 + length);
      buffered = buffered.subarray(9 + length);
      if (type === FRAME_SETTINGS && !(flags & FLAG_ACK)) socket.write(frame(FRAME_SETTINGS, FLAG_ACK, 0));
      if (type === FRAME_GOAWAY) throw new Error(`server sent GOAWAY, error code ${payload.readUInt32BE(4)}`);
      if (type === FRAME_DATA && flags & FLAG_END_STREAM) ended++;
      if (type === FRAME_HEADERS) {
        if (flags & FLAG_PADDED) payload = payload.subarray(1, payload.length - payload[0]!);
        if (flags & FLAG_PRIORITY) payload = payload.subarray(5);
        pending = { streamId, endStream: (flags & FLAG_END_STREAM) !== 0, parts: [payload] };
      } else if (type === FRAME_CONTINUATION) {
        pending!.parts.push(payload);
      }
      if ((type === FRAME_HEADERS || type === FRAME_CONTINUATION) && flags & FLAG_END_HEADERS) {
        blocks.push({ streamId: pending!.streamId, endStream: pending!.endStream, block: Buffer.concat(pending!.parts) });
        if (pending!.endStream) ended++;
        pending = undefined;
      }
      if (ended === streams) return blocks;
    }
  }
  throw new Error("connection closed before the responses ended");
}

test("decodes the headers and trailers of a real node:http2 server, dynamic table and Huffman included", async (t) => {
  const longValue = "long-".repeat(60);
  const seen: http2.IncomingHttpHeaders[] = [];
  const server = http2.createServer();
  server.on("stream", (stream, headers) => {
    seen.push(headers);
    stream.resume();
    stream.on("end", () => {
      stream.respond({ ":status": 200, "content-type": "application/grpc", "x-custom-long": longValue }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0", "grpc-message": "some text" }));
      stream.end(Buffer.from([0, 0, 0, 0, 0]));
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => server.close());
  const { port } = server.address() as { port: number };

  const socket = connect(port, "127.0.0.1");
  t.after(() => socket.destroy());
  await once(socket, "connect");
  const request = encodeHeaderBlock([
    [":method", "POST"],
    [":scheme", "http"],
    [":path", "/x"],
    [":authority", "localhost"],
    ["content-type", "application/grpc"],
    ["te", "trailers"],
  ]);
  socket.write(
    Buffer.concat([
      Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1"),
      frame(FRAME_SETTINGS, 0, 0),
      frame(FRAME_HEADERS, FLAG_END_HEADERS, 1, request),
      frame(FRAME_DATA, FLAG_END_STREAM, 1),
      frame(FRAME_HEADERS, FLAG_END_HEADERS, 3, request),
      frame(FRAME_DATA, FLAG_END_STREAM, 3),
    ]),
  );
  const blocks = await readHeaderBlocks(socket, 2);

  // The server understood our encoder.
  assert.equal(seen.length, 2);
  for (const h of seen) {
    assert.equal(h[":method"], "POST");
    assert.equal(h[":scheme"], "http");
    assert.equal(h[":path"], "/x");
    assert.equal(h[":authority"], "localhost");
    assert.equal(h["content-type"], "application/grpc");
    assert.equal(h.te, "trailers");
  }

  // And we understand its: one decoder for the connection, blocks in arrival order.
  const decoder = new HpackDecoder();
  const byStream = new Map<number, { head?: [string, string][]; trailers?: [string, string][]; size: number[] }>();
  for (const { streamId, endStream, block } of blocks) {
    const entry = byStream.get(streamId) ?? { size: [] };
    byStream.set(streamId, entry);
    const fields = pairs(decoder.decode(block));
    if (endStream) entry.trailers = fields;
    else entry.head = fields;
    entry.size.push(block.length);
  }
  assert.deepEqual([...byStream.keys()].sort(), [1, 3]);
  for (const [, { head, trailers }] of byStream) {
    assert.ok(head !== undefined && trailers !== undefined);
    const withoutDate = head.filter(([name]) => name !== "date");
    assert.deepEqual(withoutDate, [
      [":status", "200"],
      ["content-type", "application/grpc"],
      ["x-custom-long", longValue],
    ]);
    assert.match(head.find(([name]) => name === "date")?.[1] ?? "", /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
    assert.deepEqual(trailers, [
      ["grpc-status", "0"],
      ["grpc-message", "some text"],
    ]);
  }
  // The second response refers to the dynamic table instead of repeating the 300-octet value.
  const first = byStream.get(1)!.size[0]!;
  const second = byStream.get(3)!.size[0]!;
  assert.ok(first > longValue.length / 2 && second < 40, `first head block ${first} octets, second ${second}`);
  assert.ok(decoder.dynamicTableLength > 0);
});
