/**
 * The cost of decoding a gRPC response's header blocks with our HPACK decoder, in one
 * process (no sockets). Two cases, each timed as one head block plus one trailers block:
 *
 * - literal: every string is sent Huffman-coded as a literal without indexing, so each
 *   decode runs the Huffman decoder (what a peer that does not index pays us every call);
 * - indexed: the head fields were added to the dynamic table by an earlier response and
 *   are referred to by index, as nghttp2 and grpc-go do on a warm connection; the trailers
 *   stay Huffman literals (grpc-message changes from call to call).
 *
 *   node --import tsx bench/hpack.ts [--iterations 200000]
 */
import { parseArgs } from "node:util";
import { HpackDecoder } from "../packages/proxy/src/http2/hpack.js";
import { huffmanEncode } from "../packages/proxy/src/http2/hpack-huffman.js";

const { values } = parseArgs({ options: { iterations: { type: "string", default: "200000" } } });
const iterations = Number(values.iterations);

const octets = (s: string) => Uint8Array.from(Buffer.from(s, "latin1"));
// Blocks as Buffers, as they come off a socket.
const block = (fields: number[]) => Buffer.from(fields);

/** A Huffman string literal (lengths here stay below 127, one prefix octet). */
function huffman(s: string): number[] {
  const coded = huffmanEncode(octets(s));
  return [0x80 | coded.length, ...coded];
}

/** A field with the static name index `index` (< 15) or a literal name, Huffman value; `first` is the representation's pattern. */
function field(first: number, prefixMax: number, name: string | number, value: string): number[] {
  if (typeof name === "number") {
    return name < prefixMax ? [first | name, ...huffman(value)] : [first | prefixMax, name - prefixMax, ...huffman(value)];
  }
  return [first, ...huffman(name), ...huffman(value)];
}

const withoutIndexing = (name: string | number, value: string) => field(0x00, 15, name, value);
const withIndexing = (name: string | number, value: string) => field(0x40, 63, name, value);

const date = "Thu, 03 Dec 2026 16:37:50 GMT";
const literalHead = block([
  0x88,
  ...withoutIndexing(31, "application/grpc"),
  ...withoutIndexing(33, date),
  ...withoutIndexing("grpc-accept-encoding", "identity,deflate,gzip"),
]);
const firstHead = block([
  0x88,
  ...withIndexing(31, "application/grpc"),
  ...withIndexing(33, date),
  ...withIndexing("grpc-accept-encoding", "identity,deflate,gzip"),
]);
// The three entries just added are 62 (newest) .. 64.
const indexedHead = block([0x88, 0x80 | 64, 0x80 | 63, 0x80 | 62]);
const trailers = block([...withoutIndexing("grpc-status", "0"), ...withoutIndexing("grpc-message", "entity not found: cart-42")]);

/** Times `iterations` head + trailers decodes, five rounds after a warm-up; prints the best and the median round. */
function run(name: string, decoder: HpackDecoder, head: Uint8Array): void {
  let sink = 0;
  for (let i = 0; i < 50_000; i++) sink += decoder.decode(head).length + decoder.decode(trailers).length;
  const rounds: number[] = [];
  for (let round = 0; round < 5; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) sink += decoder.decode(head).length + decoder.decode(trailers).length;
    rounds.push(Number(process.hrtime.bigint() - start) / iterations);
  }
  if (sink === 0) throw new Error("nothing decoded");
  rounds.sort((a, b) => a - b);
  const ns = (x: number) => x.toFixed(0).padStart(5);
  console.log(
    `${name.padEnd(8)} best ${ns(rounds[0]!)} ns, median ${ns(rounds[2]!)} ns per head + trailers decode (head ${head.length} octets, trailers ${trailers.length} octets)`,
  );
}

console.log(`HPACK decode, ${iterations} iterations, node ${process.version}`);
run("literal", new HpackDecoder(), literalHead);
const warm = new HpackDecoder();
warm.decode(firstHead);
run("indexed", warm, indexedHead);
