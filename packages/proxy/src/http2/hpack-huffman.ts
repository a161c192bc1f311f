/**
 * The static Huffman code of HPACK (RFC 7541, Appendix B) and a table-driven decoder for it.
 *
 * The RFC's code is canonical: ordering the 257 symbols (256 octets plus EOS) by code length,
 * then by symbol value, and counting upwards gives exactly the codes the RFC lists. So the
 * lengths alone define the code, and that is all we keep as data: one letter per symbol,
 * `A` = 5 bits up to `Z` = 30 bits. The codes are rebuilt from the lengths at module load.
 *
 * Decoding walks the code tree a whole octet at a time. The tree has 257 leaves and so 256
 * inner nodes; each inner node is a decoder state (0 = root). For every state and every
 * octet a precomputed entry says which state comes next, which symbols were completed on
 * the way (at most two: the shortest code is 5 bits), and whether EOS was hit. The table
 * (256 x 256 entries) is composed at module load from a 4-bit one built by walking the tree.
 */

/** Code length of each symbol 0..256, as `A` + (length - 5). Symbol 256 is EOS. */
const LENGTHS =
  "ISXXXXXXXTZXXZXXXXXXXXZXXXXXXXXXBFFHIBDGFFDGDBBBAAABBBBBBBCDKBHFIBCCCCCCCCCCCCCCCCCCCCCCDCDIOIJBKABABABBBACCBBBABCBAABCCCCCKGJIXPRPPRRRSRSSSSSTSTTRSTSSSSQRSRSSTRQPRRSSQSRRTQRSSQQRQSRSSPRRRSRRSVVPORSRUVVVWWVTUOQVWWVWTQQVVXWWWPTPQRQQSRRUUTTVSVWVVWWWWWXWWWWWVZ";

/** The end-of-string symbol; never valid inside a decoded string. */
export const HUFFMAN_EOS = 256;

/** Bit length of each symbol's code. */
export const HUFFMAN_LENGTHS = new Uint8Array(257);
/** Each symbol's code, right-aligned in its length. */
export const HUFFMAN_CODES = new Uint32Array(257);

// Per-(state, nibble) entry layout: bits 0..7 next state, bit 8 a symbol was emitted,
// bits 9..16 that symbol, bit 17 EOS was reached (the string is invalid).
const EMIT = 1 << 8;
const SYMBOL_SHIFT = 9;
const FAILED = 1 << 17;

// Per-(state, octet) entry layout: bits 0..7 next state, bits 8..9 how many symbols were
// emitted (0..2), bits 10..17 the first, bits 18..25 the second; OCTET_FAILED marks EOS.
const COUNT_SHIFT = 8;
const FIRST_SHIFT = 10;
const SECOND_SHIFT = 18;
const OCTET_FAILED = 1 << 26;

const nibbles = new Uint32Array(256 * 16);
const octets = new Uint32Array(256 * 256);
/** 1 for states where a string may end: the root, or up to 7 one-bits into a code (valid padding). */
const accepting = new Uint8Array(256);

function build(): void {
  for (let s = 0; s < 257; s++) HUFFMAN_LENGTHS[s] = LENGTHS.charCodeAt(s) - 65 + 5;
  const order = Array.from({ length: 257 }, (_, s) => s).sort((a, b) => HUFFMAN_LENGTHS[a]! - HUFFMAN_LENGTHS[b]! || a - b);
  let code = 0;
  let length = HUFFMAN_LENGTHS[order[0]!]!;
  for (let i = 0; i < order.length; i++) {
    const symbol = order[i]!;
    const symbolLength = HUFFMAN_LENGTHS[symbol]!;
    if (i > 0) code = (code + 1) * 2 ** (symbolLength - length);
    length = symbolLength;
    HUFFMAN_CODES[symbol] = code;
  }

  // The tree: children[2 * node + bit] is an inner node id (>= 0) or a leaf, -(symbol + 1).
  const children = new Int32Array(2 * 256).fill(0x7fffffff);
  let nodes = 1;
  for (let symbol = 0; symbol < 257; symbol++) {
    const len = HUFFMAN_LENGTHS[symbol]!;
    const c = HUFFMAN_CODES[symbol]!;
    let node = 0;
    for (let b = len - 1; b > 0; b--) {
      const slot = 2 * node + (Math.floor(c / 2 ** b) & 1);
      if (children[slot] === 0x7fffffff) children[slot] = nodes++;
      node = children[slot]!;
    }
    children[2 * node + (c & 1)] = -(symbol + 1);
  }
  if (nodes !== 256 || children.includes(0x7fffffff)) throw new Error("HPACK Huffman table is not a complete code");

  // States on the all-ones path from the root, at most 7 deep, may end a string.
  let node = 0;
  accepting[0] = 1;
  for (let depth = 1; depth <= 7; depth++) {
    node = children[2 * node + 1]!;
    accepting[node] = 1;
  }

  for (let state = 0; state < 256; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let at = state;
      let entry = 0;
      for (let b = 3; b >= 0; b--) {
        const next = children[2 * at + ((nibble >> b) & 1)]!;
        if (next >= 0) {
          at = next;
          continue;
        }
        const symbol = -next - 1;
        if (symbol === HUFFMAN_EOS) {
          entry |= FAILED;
          break;
        }
        entry |= EMIT | (symbol << SYMBOL_SHIFT);
        at = 0;
      }
      nibbles[state * 16 + nibble] = entry | at;
    }
  }

  for (let state = 0; state < 256; state++) {
    for (let octet = 0; octet < 256; octet++) {
      const high = nibbles[state * 16 + (octet >> 4)]!;
      const low = nibbles[(high & 0xff) * 16 + (octet & 0xf)]!;
      if ((high | low) & FAILED) {
        octets[state * 256 + octet] = OCTET_FAILED;
        continue;
      }
      const symbols = ((high >> SYMBOL_SHIFT) & 0xff) | (((low >> SYMBOL_SHIFT) & 0xff) << 8);
      let entry = low & 0xff;
      if (high & EMIT && low & EMIT) entry |= (2 << COUNT_SHIFT) | (symbols << FIRST_SHIFT);
      else if (high & EMIT) entry |= (1 << COUNT_SHIFT) | ((symbols & 0xff) << FIRST_SHIFT);
      else if (low & EMIT) entry |= (1 << COUNT_SHIFT) | ((symbols >> 8) << FIRST_SHIFT);
      octets[state * 256 + octet] = entry;
    }
  }
}
build();

/**
 * Decodes the Huffman-coded octets `src[start..end)` into `out` (which must hold at least
 * `(end - start) * 8 / 5` octets) and returns how many octets were written, or -1 when the
 * input is not a valid string: it contains EOS, or ends with padding that is longer than
 * 7 bits or not all one-bits.
 */
export function huffmanDecode(src: Uint8Array, start: number, end: number, out: Uint8Array): number {
  let state = 0;
  let n = 0;
  for (let i = start; i < end; i++) {
    const entry = octets[(state << 8) | src[i]!]!;
    if (entry & OCTET_FAILED) return -1;
    const count = (entry >> COUNT_SHIFT) & 3;
    if (count !== 0) {
      out[n++] = (entry >> FIRST_SHIFT) & 0xff;
      if (count === 2) out[n++] = (entry >> SECOND_SHIFT) & 0xff;
    }
    state = entry & 0xff;
  }
  return accepting[state] ? n : -1;
}

/** Number of octets the Huffman coding of `src` takes (padding included). */
export function huffmanEncodedLength(src: Uint8Array): number {
  let bits = 0;
  for (let i = 0; i < src.length; i++) bits += HUFFMAN_LENGTHS[src[i]!]!;
  return Math.ceil(bits / 8);
}

/** Huffman-codes the octets of `src`, padding the last octet with one-bits (the prefix of EOS). */
export function huffmanEncode(src: Uint8Array): Uint8Array {
  const out = new Uint8Array(huffmanEncodedLength(src));
  // Pending bits live in the low `count` bits of `acc`; codes are at most 30 bits, so
  // flushing whole octets keeps count below 8 before each add and acc within 38 bits.
  let acc = 0;
  let count = 0;
  let n = 0;
  for (let i = 0; i < src.length; i++) {
    const symbol = src[i]!;
    const len = HUFFMAN_LENGTHS[symbol]!;
    acc = acc * 2 ** len + HUFFMAN_CODES[symbol]!;
    count += len;
    while (count >= 8) {
      count -= 8;
      const octet = Math.floor(acc / 2 ** count);
      out[n++] = octet;
      acc -= octet * 2 ** count;
    }
  }
  if (count > 0) out[n] = (acc << (8 - count)) | (0xff >> count);
  return out;
}
