/**
 * HPACK header compression (RFC 7541) for our own HTTP/2 client to the user function.
 *
 * - `HpackDecoder` reads every representation a peer may send (indexed, the three literal
 *   forms, dynamic table size updates, Huffman strings) and keeps the connection's dynamic
 *   table. Any malformed block throws `HpackError`, which the connection turns into a
 *   COMPRESSION_ERROR and closes; nothing on hostile input loops without bound or allocates
 *   more than a small multiple of the block's own size.
 * - `encodeHeaderBlock` writes requests without a dynamic table (static-table indexes and
 *   literals without indexing, raw strings), so the encoder keeps no state and the peer's
 *   table never fills with our headers.
 *
 * Header strings are octets; we map them to JavaScript strings as latin1 (one char per octet),
 * which is exact for the ASCII that HTTP/2 header fields carry in practice.
 */
import { huffmanDecode } from "./hpack-huffman.js";

/** A malformed header block (HTTP/2 COMPRESSION_ERROR: the connection must be closed). */
export class HpackError extends Error {
  override name = "HpackError";
}

/** The static table of RFC 7541 Appendix A; entry i is index i + 1. */
const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"],
  ["accept-language", ""],
  ["accept-ranges", ""],
  ["accept", ""],
  ["access-control-allow-origin", ""],
  ["age", ""],
  ["allow", ""],
  ["authorization", ""],
  ["cache-control", ""],
  ["content-disposition", ""],
  ["content-encoding", ""],
  ["content-language", ""],
  ["content-length", ""],
  ["content-location", ""],
  ["content-range", ""],
  ["content-type", ""],
  ["cookie", ""],
  ["date", ""],
  ["etag", ""],
  ["expect", ""],
  ["expires", ""],
  ["from", ""],
  ["host", ""],
  ["if-match", ""],
  ["if-modified-since", ""],
  ["if-none-match", ""],
  ["if-range", ""],
  ["if-unmodified-since", ""],
  ["last-modified", ""],
  ["link", ""],
  ["location", ""],
  ["max-forwards", ""],
  ["proxy-authenticate", ""],
  ["proxy-authorization", ""],
  ["range", ""],
  ["referer", ""],
  ["refresh", ""],
  ["retry-after", ""],
  ["server", ""],
  ["set-cookie", ""],
  ["strict-transport-security", ""],
  ["transfer-encoding", ""],
  ["user-agent", ""],
  ["vary", ""],
  ["via", ""],
  ["www-authenticate", ""],
];
const STATIC_COUNT = STATIC_TABLE.length;
const EMPTY = Buffer.alloc(0);

/** Per name: the lowest static index with that name, and the index of each (name, value) pair. */
const STATIC_BY_NAME = new Map<string, { readonly index: number; readonly values: Map<string, number> }>();
for (let i = 0; i < STATIC_COUNT; i++) {
  const [name, value] = STATIC_TABLE[i]!;
  let entry = STATIC_BY_NAME.get(name);
  if (entry === undefined) STATIC_BY_NAME.set(name, (entry = { index: i + 1, values: new Map() }));
  // Only non-empty values are worth a fully indexed match; an empty static value is a name slot.
  if (value !== "" && !entry.values.has(value)) entry.values.set(value, i + 1);
}

/** Per-entry overhead the RFC adds to name and value lengths when sizing the dynamic table. */
const ENTRY_OVERHEAD = 32;
/** Integers above this are refused (no field or table in a sane peer comes near it). */
const MAX_INTEGER = 2 ** 31;
/** Continuation octets allowed after a prefix: 5 carry 35 bits, more than MAX_INTEGER needs. */
const MAX_CONTINUATIONS = 5;

// Recently decoded short strings, shared by all decoders. The same names and values
// (content-type, grpc-status, "application/grpc", "0") arrive on every call, and finding one
// by a hash of its octets is cheaper than creating a new string each time.
// Slots are overwritten on collision, so the cache stays at INTERN_SLOTS strings of at most
// INTERN_MAX_LENGTH chars whatever a peer sends.
const INTERN_SLOTS = 1024;
const INTERN_MAX_LENGTH = 64;
const interned: (string | undefined)[] = new Array(INTERN_SLOTS).fill(undefined);

/** The latin1 string of `src[start..end)`, from the cache when it holds the same octets. */
function intern(src: Uint8Array, start: number, end: number): string {
  // FNV-1a over the octets.
  let hash = 0x811c9dc5;
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ src[i]!, 0x01000193);
  const slot = (hash ^ (hash >>> 16)) & (INTERN_SLOTS - 1);
  const cached = interned[slot];
  const length = end - start;
  if (cached !== undefined && cached.length === length) {
    let i = 0;
    while (i < length && cached.charCodeAt(i) === src[start + i]) i++;
    if (i === length) return cached;
  }
  let s = "";
  for (let i = start; i < end; i++) s += String.fromCharCode(src[i]!);
  interned[slot] = s;
  return s;
}

/**
 * Decodes header blocks of one HTTP/2 connection, keeping its dynamic table between blocks.
 */
export class HpackDecoder {
  /** The largest table size the peer may choose (our SETTINGS_HEADER_TABLE_SIZE). */
  readonly #maxTableSize: number;
  readonly #maxHeaderListSize: number;
  /** The size the peer last chose with a dynamic table size update. */
  #tableLimit: number;
  #tableSize = 0;
  // The dynamic table as a ring: names/values/sizes at slots; #head is the newest entry's slot.
  #names: string[] = [];
  #values: string[] = [];
  #sizes: number[] = [];
  #head = 0;
  #count = 0;
  /** Scratch space for Huffman output, grown on demand. */
  #scratch = Buffer.allocUnsafeSlow(256);
  // The block being decoded and the read position; #text is the block as a Buffer (for its
  // latin1 conversion), made only when a raw string needs it and the block is no Buffer already.
  #block: Uint8Array = EMPTY;
  #text: Buffer | undefined;
  #pos = 0;

  /**
   * @param maxTableSize our SETTINGS_HEADER_TABLE_SIZE (default 4096): the dynamic table starts at this size and a size update may not exceed it.
   * @param maxHeaderListSize cap on a decoded block's size (name + value octets + 32 per field, as RFC 7540 counts it), default 65536.
   */
  constructor(maxTableSize = 4096, maxHeaderListSize = 65536) {
    if (!Number.isInteger(maxTableSize) || maxTableSize < 0) throw new RangeError(`maxTableSize must be a non-negative integer, got ${maxTableSize}`);
    if (!Number.isInteger(maxHeaderListSize) || maxHeaderListSize < 0) {
      throw new RangeError(`maxHeaderListSize must be a non-negative integer, got ${maxHeaderListSize}`);
    }
    this.#maxTableSize = maxTableSize;
    this.#tableLimit = maxTableSize;
    this.#maxHeaderListSize = maxHeaderListSize;
  }

  /** Number of entries in the dynamic table (for tests and diagnostics). */
  get dynamicTableLength(): number {
    return this.#count;
  }

  /** Size of the dynamic table in the RFC's accounting (for tests and diagnostics). */
  get dynamicTableSize(): number {
    return this.#tableSize;
  }

  /**
   * Decodes one complete header block (HEADERS + CONTINUATION payloads joined).
   * Returns names and values alternating: [name0, value0, name1, value1, ...].
   * Throws HpackError on a malformed block; the dynamic table is then unusable and the
   * connection must be closed.
   */
  decode(block: Uint8Array): string[] {
    this.#block = block;
    this.#text = Buffer.isBuffer(block) ? block : undefined;
    this.#pos = 0;
    const out: string[] = [];
    let listSize = 0;
    let fieldsSeen = false;
    const end = block.length;
    try {
      while (this.#pos < end) {
        const first = block[this.#pos]!;
        let name: string;
        let value: string;
        if (first & 0x80) {
          // Indexed header field.
          const index = this.#integer(7);
          if (index === 0) throw new HpackError("HPACK: indexed header field with index 0");
          name = this.#nameAt(index);
          value = this.#valueAt(index);
        } else if (first & 0x40) {
          // Literal with incremental indexing.
          const index = this.#integer(6);
          name = index === 0 ? this.#string() : this.#nameAt(index);
          value = this.#string();
          this.#insert(name, value);
        } else if (first & 0x20) {
          // Dynamic table size update: only before the first field of a block.
          if (fieldsSeen) throw new HpackError("HPACK: dynamic table size update after a header field");
          const size = this.#integer(5);
          if (size > this.#maxTableSize) throw new HpackError(`HPACK: dynamic table size update to ${size} exceeds the limit of ${this.#maxTableSize}`);
          this.#tableLimit = size;
          this.#evict(0);
          continue;
        } else {
          // Literal without indexing (0000) or never indexed (0001): same layout, nothing stored.
          const index = this.#integer(4);
          name = index === 0 ? this.#string() : this.#nameAt(index);
          value = this.#string();
        }
        fieldsSeen = true;
        listSize += name.length + value.length + ENTRY_OVERHEAD;
        if (listSize > this.#maxHeaderListSize) throw new HpackError(`HPACK: header list exceeds ${this.#maxHeaderListSize} octets`);
        out.push(name, value);
      }
    } finally {
      this.#block = EMPTY;
      this.#text = undefined;
    }
    return out;
  }

  /** Reads an integer with an N-bit prefix (RFC 7541 §5.1). */
  #integer(prefixBits: number): number {
    const block = this.#block;
    const mask = (1 << prefixBits) - 1;
    let value = block[this.#pos++]! & mask;
    if (value < mask) return value;
    let shift = 1;
    for (let i = 0; i < MAX_CONTINUATIONS; i++) {
      if (this.#pos >= block.length) throw new HpackError("HPACK: header block ends inside an integer");
      const octet = block[this.#pos++]!;
      value += (octet & 0x7f) * shift;
      if (value > MAX_INTEGER) throw new HpackError("HPACK: integer too large");
      if ((octet & 0x80) === 0) return value;
      shift *= 128;
    }
    throw new HpackError("HPACK: integer has too many continuation octets");
  }

  /** Reads a string literal (RFC 7541 §5.2), raw or Huffman-coded. */
  #string(): string {
    const block = this.#block;
    if (this.#pos >= block.length) throw new HpackError("HPACK: header block ends before a string literal");
    const huffman = (block[this.#pos]! & 0x80) !== 0;
    const length = this.#integer(7);
    const start = this.#pos;
    if (length > block.length - start) throw new HpackError(`HPACK: string literal of ${length} octets runs past the end of the header block`);
    this.#pos = start + length;
    if (!huffman) {
      if (length <= INTERN_MAX_LENGTH) return intern(block, start, start + length);
      this.#text ??= Buffer.from(block.buffer, block.byteOffset, block.byteLength);
      return this.#text.toString("latin1", start, start + length);
    }
    // The shortest code is 5 bits, so `length` octets decode to at most length * 8 / 5 symbols.
    const room = Math.ceil((length * 8) / 5);
    if (this.#scratch.length < room) this.#scratch = Buffer.allocUnsafeSlow(Math.max(room, this.#scratch.length * 2));
    const n = huffmanDecode(block, start, start + length, this.#scratch);
    if (n < 0) throw new HpackError("HPACK: invalid Huffman-coded string (EOS inside, or bad padding)");
    return n <= INTERN_MAX_LENGTH ? intern(this.#scratch, 0, n) : this.#scratch.toString("latin1", 0, n);
  }

  #nameAt(index: number): string {
    if (index <= STATIC_COUNT) return STATIC_TABLE[index - 1]![0];
    return this.#names[this.#slot(index)]!;
  }

  #valueAt(index: number): string {
    if (index <= STATIC_COUNT) return STATIC_TABLE[index - 1]![1];
    return this.#values[this.#slot(index)]!;
  }

  /** Ring slot of dynamic index `index` (62 = newest). */
  #slot(index: number): number {
    const age = index - STATIC_COUNT - 1;
    if (age >= this.#count) throw new HpackError(`HPACK: index ${index} is beyond the ${STATIC_COUNT} static and ${this.#count} dynamic entries`);
    const capacity = this.#names.length;
    return (this.#head - age + capacity) % capacity;
  }

  /** Adds an entry as the newest, evicting the oldest ones to make room (RFC 7541 §4.4). */
  #insert(name: string, value: string): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    if (size > this.#tableLimit) {
      // Larger than the whole table: the table is emptied and nothing is stored.
      this.#evict(this.#tableLimit);
      return;
    }
    this.#evict(size);
    let capacity = this.#names.length;
    if (this.#count === capacity) {
      this.#grow();
      capacity = this.#names.length;
    }
    this.#head = (this.#head + 1) % capacity;
    this.#names[this.#head] = name;
    this.#values[this.#head] = value;
    this.#sizes[this.#head] = size;
    this.#count++;
    this.#tableSize += size;
  }

  /** Evicts the oldest entries until `room` more octets fit under the current limit. */
  #evict(room: number): void {
    const capacity = this.#names.length;
    while (this.#count > 0 && this.#tableSize + room > this.#tableLimit) {
      const oldest = (this.#head - this.#count + 1 + capacity) % capacity;
      this.#tableSize -= this.#sizes[oldest]!;
      this.#names[oldest] = "";
      this.#values[oldest] = "";
      this.#count--;
    }
  }

  /** Doubles the ring, unrolling it so the oldest entry sits at slot 0. */
  #grow(): void {
    const capacity = this.#names.length;
    const next = Math.max(8, capacity * 2);
    const names: string[] = new Array(next).fill("");
    const values: string[] = new Array(next).fill("");
    const sizes: number[] = new Array(next).fill(0);
    for (let i = 0; i < this.#count; i++) {
      const from = (this.#head - this.#count + 1 + i + capacity) % capacity;
      names[i] = this.#names[from]!;
      values[i] = this.#values[from]!;
      sizes[i] = this.#sizes[from]!;
    }
    this.#names = names;
    this.#values = values;
    this.#sizes = sizes;
    this.#head = this.#count - 1;
  }
}

/** Octets an HPACK integer with an N-bit prefix takes. */
function integerLength(value: number, prefixBits: number): number {
  const mask = (1 << prefixBits) - 1;
  if (value < mask) return 1;
  let n = 2;
  for (let rest = value - mask; rest >= 128; rest = Math.floor(rest / 128)) n++;
  return n;
}

/** Writes an integer with an N-bit prefix; `flags` are the representation's high bits. */
function writeInteger(out: Uint8Array, pos: number, value: number, prefixBits: number, flags: number): number {
  const mask = (1 << prefixBits) - 1;
  if (value < mask) {
    out[pos++] = flags | value;
    return pos;
  }
  out[pos++] = flags | mask;
  let rest = value - mask;
  while (rest >= 128) {
    out[pos++] = (rest % 128) | 0x80;
    rest = Math.floor(rest / 128);
  }
  out[pos++] = rest;
  return pos;
}

/** Writes a raw (not Huffman-coded) string literal. */
function writeString(out: Uint8Array, pos: number, s: string): number {
  pos = writeInteger(out, pos, s.length, 7, 0);
  for (let i = 0; i < s.length; i++) out[pos++] = s.charCodeAt(i);
  return pos;
}

function checkLatin1(s: string, what: string): void {
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0xff) throw new RangeError(`HPACK: ${what} ${JSON.stringify(s)} has a character outside latin1 at offset ${i}`);
  }
}

/**
 * Encodes a header block without touching any dynamic table (so it needs no encoder state):
 * the static table's fully indexed form where name and value both match a static entry
 * (`:method: POST` → 0x83), else a literal without indexing, naming the static index when
 * the name is in the static table and writing the name out otherwise. Strings go raw (no
 * Huffman). Names and values must be latin1 (ASCII in practice); others throw RangeError.
 */
export function encodeHeaderBlock(fields: readonly (readonly [string, string])[]): Uint8Array {
  let size = 0;
  for (const [name, value] of fields) {
    checkLatin1(name, "header name");
    checkLatin1(value, `value of header ${name}`);
    const entry = STATIC_BY_NAME.get(name);
    if (entry?.values.get(value) !== undefined) {
      size += 1;
      continue;
    }
    size += entry !== undefined ? integerLength(entry.index, 4) : 1 + integerLength(name.length, 7) + name.length;
    size += integerLength(value.length, 7) + value.length;
  }
  const out = new Uint8Array(size);
  let pos = 0;
  for (const [name, value] of fields) {
    const entry = STATIC_BY_NAME.get(name);
    const full = entry?.values.get(value);
    if (full !== undefined) {
      // Static indexes top out at 61, below the 7-bit prefix's 127, so one octet.
      out[pos++] = 0x80 | full;
      continue;
    }
    if (entry !== undefined) {
      pos = writeInteger(out, pos, entry.index, 4, 0x00);
    } else {
      out[pos++] = 0x00;
      pos = writeString(out, pos, name);
    }
    pos = writeString(out, pos, value);
  }
  return out;
}
