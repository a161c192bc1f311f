/**
 * The bytes a CRDT is stored as (`CrdtStore.putCrdt`): a 2-byte header, `S` and the
 * format version, then a protobuf-wire message written with @bufbuild/protobuf's
 * BinaryWriter (no schema file; the field numbers below are the schema):
 *
 *     Stored   { repeated string nodes = 1; State state = 2; }
 *     State    { oneof: GCounter gcounter = 1; PNCounter pncounter = 2; GSet gset = 3; ORSet orset = 4;
 *                LWWRegister lwwregister = 5; Flag flag = 6; ORMap ormap = 7; Vote vote = 8; }
 *     GCounter { repeated NodeCount counts = 1; }        Vote { repeated NodeCount votes = 1; }
 *     PNCounter{ repeated NodeCount increments = 1; repeated NodeCount decrements = 2; }
 *     GSet     { repeated AnyV elements = 1; }
 *     ORSet    { repeated Element entries = 1; Context context = 2; }   Element { AnyV value = 1; repeated Dot dots = 2; }
 *     ORMap    { repeated Entry entries = 1; Context context = 2; }     Entry { AnyV key = 1; repeated Version versions = 2; }
 *     Version  { Dot dot = 1; State value = 2; }
 *     LWWRegister { AnyV value = 1; sint64 timestamp = 2; uint32 node = 3; }   Flag { bool enabled = 1; }
 *     NodeCount{ uint32 node = 1; uint64 count = 2; }    Dot { uint32 node = 1; uint64 counter = 2; }
 *     Context  { repeated NodeCount versions = 1; repeated Dot cloud = 2; }
 *     AnyV     { string type_url = 1; bytes value = 2; }
 *
 * Node ids are written once, in `nodes`, and referenced by index, so a set with many
 * dots stays small. The encoding is canonical (sorted nodes, keys and dots; no zero
 * counts), so equal states have equal bytes. Readers skip unknown fields; a new
 * version number marks a change old readers must refuse.
 */
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { Code, SwitchboardError } from "../../errors/index.js";
import type { AnyValue } from "../../store/types.js";
import { anyKey, compareStrings } from "./any-key.js";
import { compareDots, type Dot, type DotContext, dotOf, parseDot } from "./dots.js";
import type { CrdtState, ORMapEntry, ORSetEntry } from "./state.js";

const MAGIC = 0x53; // "S"
/** The format version written by {@link encodeCrdtState}. */
export const CRDT_FORMAT_VERSION = 1;

const KIND_FIELD = { gcounter: 1, pncounter: 2, gset: 3, orset: 4, lwwregister: 5, flag: 6, ormap: 7, vote: 8 } as const;

function collectNodes(state: CrdtState, nodes: Set<string>): void {
  const counts = (all: ReadonlyMap<string, bigint>) => {
    // Zero counts are not written, so their nodes stay out of the table too.
    for (const [node, count] of all) if (count !== 0n) nodes.add(node);
  };
  const dots = (all: Iterable<Dot>) => {
    for (const dot of all) nodes.add(parseDot(dot).node);
  };
  const context = (c: DotContext) => {
    counts(c.versions);
    dots(c.cloud);
  };
  switch (state.kind) {
    case "gcounter":
      counts(state.counts);
      return;
    case "pncounter":
      counts(state.increments);
      counts(state.decrements);
      return;
    case "vote":
      counts(state.votes);
      return;
    case "lwwregister":
      nodes.add(state.node);
      return;
    case "orset":
      for (const entry of state.entries.values()) dots(entry.dots);
      context(state.context);
      return;
    case "ormap":
      for (const entry of state.entries.values()) {
        for (const [dot, value] of entry.versions) {
          nodes.add(parseDot(dot).node);
          collectNodes(value, nodes);
        }
      }
      context(state.context);
      return;
    case "gset":
    case "flag":
      return;
  }
}

/** Serializes a CRDT for the store (canonical: equal states give equal bytes). */
export function encodeCrdtState(state: CrdtState): Uint8Array {
  const all = new Set<string>();
  collectNodes(state, all);
  const nodes = [...all].sort(compareStrings);
  const index = new Map(nodes.map((node, i) => [node, i]));
  const w = new BinaryWriter();
  for (const node of nodes) w.tag(1, WireType.LengthDelimited).string(node);
  w.tag(2, WireType.LengthDelimited).fork();
  writeState(w, state, index);
  w.join();
  const body = w.finish();
  const bytes = new Uint8Array(body.length + 2);
  bytes[0] = MAGIC;
  bytes[1] = CRDT_FORMAT_VERSION;
  bytes.set(body, 2);
  return bytes;
}

function writeCounts(w: BinaryWriter, field: number, counts: ReadonlyMap<string, bigint>, index: Map<string, number>): void {
  for (const node of [...counts.keys()].sort(compareStrings)) {
    const count = counts.get(node) ?? 0n;
    if (count === 0n) continue;
    w.tag(field, WireType.LengthDelimited)
      .fork()
      .tag(1, WireType.Varint)
      .uint32(index.get(node) ?? 0)
      .tag(2, WireType.Varint)
      .uint64(count)
      .join();
  }
}

function writeDot(w: BinaryWriter, field: number, dot: Dot, index: Map<string, number>): void {
  const { node, counter } = parseDot(dot);
  w.tag(field, WireType.LengthDelimited)
    .fork()
    .tag(1, WireType.Varint)
    .uint32(index.get(node) ?? 0)
    .tag(2, WireType.Varint)
    .uint64(counter)
    .join();
}

function writeContext(w: BinaryWriter, field: number, context: DotContext, index: Map<string, number>): void {
  w.tag(field, WireType.LengthDelimited).fork();
  writeCounts(w, 1, context.versions, index);
  for (const dot of [...context.cloud].sort(compareDots)) writeDot(w, 2, dot, index);
  w.join();
}

function writeAny(w: BinaryWriter, field: number, value: AnyValue): void {
  w.tag(field, WireType.LengthDelimited).fork();
  if (value.typeUrl !== "") w.tag(1, WireType.LengthDelimited).string(value.typeUrl);
  if (value.value.length > 0) w.tag(2, WireType.LengthDelimited).bytes(value.value);
  w.join();
}

function sortedEntries<E>(entries: ReadonlyMap<string, E>): E[] {
  return [...entries.keys()].sort(compareStrings).map((key) => entries.get(key) as E);
}

function writeState(w: BinaryWriter, state: CrdtState, index: Map<string, number>): void {
  w.tag(KIND_FIELD[state.kind], WireType.LengthDelimited).fork();
  switch (state.kind) {
    case "gcounter":
      writeCounts(w, 1, state.counts, index);
      break;
    case "pncounter":
      writeCounts(w, 1, state.increments, index);
      writeCounts(w, 2, state.decrements, index);
      break;
    case "vote":
      writeCounts(w, 1, state.votes, index);
      break;
    case "gset":
      for (const value of sortedEntries(state.elements)) writeAny(w, 1, value);
      break;
    case "orset":
      for (const entry of sortedEntries(state.entries)) {
        w.tag(1, WireType.LengthDelimited).fork();
        writeAny(w, 1, entry.value);
        for (const dot of [...entry.dots].sort(compareDots)) writeDot(w, 2, dot, index);
        w.join();
      }
      writeContext(w, 2, state.context, index);
      break;
    case "lwwregister":
      writeAny(w, 1, state.value);
      w.tag(2, WireType.Varint).sint64(state.timestamp);
      w.tag(3, WireType.Varint).uint32(index.get(state.node) ?? 0);
      break;
    case "flag":
      if (state.enabled) w.tag(1, WireType.Varint).bool(true);
      break;
    case "ormap":
      for (const entry of sortedEntries(state.entries)) {
        w.tag(1, WireType.LengthDelimited).fork();
        writeAny(w, 1, entry.key);
        for (const dot of [...entry.versions.keys()].sort(compareDots)) {
          w.tag(2, WireType.LengthDelimited).fork();
          writeDot(w, 1, dot, index);
          w.tag(2, WireType.LengthDelimited).fork();
          writeState(w, entry.versions.get(dot) as CrdtState, index);
          w.join();
          w.join();
        }
        w.join();
      }
      writeContext(w, 2, state.context, index);
      break;
  }
  w.join();
}

/** Thrown inside the decoder; turned into a DATA_LOSS error at the boundary. */
class Malformed extends Error {}

/** Reads the fields of one length-delimited message, calling `field` for each and skipping the rest. */
function readMessage(r: BinaryReader, end: number, field: (no: number, wire: WireType) => boolean): void {
  while (r.pos < end) {
    const [no, wire] = r.tag();
    if (!field(no, wire)) r.skip(wire, no);
  }
  if (r.pos !== end) throw new Malformed("message overruns its length");
}

function sub(r: BinaryReader, wire: WireType): number {
  if (wire !== WireType.LengthDelimited) throw new Malformed("expected a length-delimited field");
  const length = r.uint32();
  const end = r.pos + length;
  if (end > r.len) throw new Malformed("truncated message");
  return end;
}

function varint(wire: WireType): void {
  if (wire !== WireType.Varint) throw new Malformed("expected a varint field");
}

function readAny(r: BinaryReader, end: number): AnyValue {
  let typeUrl = "";
  let value = new Uint8Array();
  readMessage(r, end, (no, wire) => {
    if (no === 1 && wire === WireType.LengthDelimited) typeUrl = r.string();
    else if (no === 2 && wire === WireType.LengthDelimited) value = r.bytes().slice();
    else return false;
    return true;
  });
  return Object.freeze({ typeUrl, value });
}

function readPair(r: BinaryReader, end: number, nodes: readonly string[]): { node: string; count: bigint } {
  let node: string | undefined;
  let count = 0n;
  readMessage(r, end, (no, wire) => {
    if (no === 1) {
      varint(wire);
      const i = r.uint32();
      node = nodes[i];
      if (node === undefined) throw new Malformed(`node index ${i} out of range`);
    } else if (no === 2) {
      varint(wire);
      count = BigInt(r.uint64());
    } else return false;
    return true;
  });
  if (node === undefined) throw new Malformed("entry without a node");
  return { node, count };
}

function readDot(r: BinaryReader, end: number, nodes: readonly string[]): Dot {
  const { node, count } = readPair(r, end, nodes);
  if (count < 1n) throw new Malformed("dot counter below 1");
  return dotOf(node, count);
}

function readContext(r: BinaryReader, end: number, nodes: readonly string[]): DotContext {
  const versions = new Map<string, bigint>();
  const cloud = new Set<Dot>();
  readMessage(r, end, (no, wire) => {
    if (no === 1) {
      const { node, count } = readPair(r, sub(r, wire), nodes);
      if (count > 0n) versions.set(node, count);
    } else if (no === 2) cloud.add(readDot(r, sub(r, wire), nodes));
    else return false;
    return true;
  });
  return { versions, cloud };
}

function readState(r: BinaryReader, end: number, nodes: readonly string[]): CrdtState {
  let state: CrdtState | undefined;
  readMessage(r, end, (no, wire) => {
    const inner = sub(r, wire);
    state = readKind(r, no, inner, nodes);
    return true;
  });
  if (state === undefined) throw new Malformed("state without a CRDT");
  return state;
}

function readCounts(r: BinaryReader, wire: WireType, nodes: readonly string[], into: Map<string, bigint>): void {
  const { node, count } = readPair(r, sub(r, wire), nodes);
  if (count > 0n) into.set(node, count);
}

function readKind(r: BinaryReader, kind: number, end: number, nodes: readonly string[]): CrdtState {
  switch (kind) {
    case KIND_FIELD.gcounter:
    case KIND_FIELD.vote: {
      const counts = new Map<string, bigint>();
      readMessage(r, end, (no, wire) => {
        if (no !== 1) return false;
        readCounts(r, wire, nodes, counts);
        return true;
      });
      return kind === KIND_FIELD.gcounter ? { kind: "gcounter", counts } : { kind: "vote", votes: counts };
    }
    case KIND_FIELD.pncounter: {
      const increments = new Map<string, bigint>();
      const decrements = new Map<string, bigint>();
      readMessage(r, end, (no, wire) => {
        if (no === 1) readCounts(r, wire, nodes, increments);
        else if (no === 2) readCounts(r, wire, nodes, decrements);
        else return false;
        return true;
      });
      return { kind: "pncounter", increments, decrements };
    }
    case KIND_FIELD.gset: {
      const elements = new Map<string, AnyValue>();
      readMessage(r, end, (no, wire) => {
        if (no !== 1) return false;
        const value = readAny(r, sub(r, wire));
        elements.set(anyKey(value), value);
        return true;
      });
      return { kind: "gset", elements };
    }
    case KIND_FIELD.orset: {
      const entries = new Map<string, ORSetEntry>();
      let context: DotContext = { versions: new Map(), cloud: new Set() };
      readMessage(r, end, (no, wire) => {
        if (no === 1) {
          let value: AnyValue | undefined;
          const dots = new Set<Dot>();
          readMessage(r, sub(r, wire), (n, w) => {
            if (n === 1) value = readAny(r, sub(r, w));
            else if (n === 2) dots.add(readDot(r, sub(r, w), nodes));
            else return false;
            return true;
          });
          if (value === undefined || dots.size === 0) throw new Malformed("ORSet element without a value or dots");
          entries.set(anyKey(value), { value, dots });
        } else if (no === 2) context = readContext(r, sub(r, wire), nodes);
        else return false;
        return true;
      });
      return { kind: "orset", entries, context };
    }
    case KIND_FIELD.lwwregister: {
      let value: AnyValue = Object.freeze({ typeUrl: "", value: new Uint8Array() });
      let timestamp = 0n;
      let node: string | undefined;
      readMessage(r, end, (no, wire) => {
        if (no === 1) value = readAny(r, sub(r, wire));
        else if (no === 2) {
          varint(wire);
          timestamp = BigInt(r.sint64());
        } else if (no === 3) {
          varint(wire);
          node = nodes[r.uint32()];
          if (node === undefined) throw new Malformed("LWWRegister node index out of range");
        } else return false;
        return true;
      });
      if (node === undefined) throw new Malformed("LWWRegister without a node");
      return { kind: "lwwregister", value, timestamp, node };
    }
    case KIND_FIELD.flag: {
      let enabled = false;
      readMessage(r, end, (no, wire) => {
        if (no !== 1) return false;
        varint(wire);
        enabled = r.bool();
        return true;
      });
      return { kind: "flag", enabled };
    }
    case KIND_FIELD.ormap: {
      const entries = new Map<string, ORMapEntry>();
      let context: DotContext = { versions: new Map(), cloud: new Set() };
      readMessage(r, end, (no, wire) => {
        if (no === 1) {
          let key: AnyValue | undefined;
          const versions = new Map<Dot, CrdtState>();
          readMessage(r, sub(r, wire), (n, w) => {
            if (n === 1) key = readAny(r, sub(r, w));
            else if (n === 2) {
              let dot: Dot | undefined;
              let value: CrdtState | undefined;
              readMessage(r, sub(r, w), (m, x) => {
                if (m === 1) dot = readDot(r, sub(r, x), nodes);
                else if (m === 2) value = readState(r, sub(r, x), nodes);
                else return false;
                return true;
              });
              if (dot === undefined || value === undefined) throw new Malformed("ORMap version without a dot or a value");
              versions.set(dot, value);
            } else return false;
            return true;
          });
          if (key === undefined || versions.size === 0) throw new Malformed("ORMap entry without a key or versions");
          entries.set(anyKey(key), { key, versions });
        } else if (no === 2) context = readContext(r, sub(r, wire), nodes);
        else return false;
        return true;
      });
      return { kind: "ormap", entries, context };
    }
    default:
      throw new Malformed(`unknown CRDT type ${kind}`);
  }
}

/**
 * Reads stored bytes back into a CRDT. Undecodable bytes or an unknown format version
 * are a DATA_LOSS error naming `where` (e.g. the persistence and entity ids).
 */
export function decodeCrdtState(bytes: Uint8Array, where: string): CrdtState {
  if (bytes.length < 2 || bytes[0] !== MAGIC) throw new SwitchboardError(`stored CRDT state of ${where} is not in the Switchboard CRDT format`, Code.DataLoss);
  if (bytes[1] !== CRDT_FORMAT_VERSION)
    throw new SwitchboardError(`stored CRDT state of ${where} has format version ${bytes[1]}; this build reads version ${CRDT_FORMAT_VERSION}`, Code.DataLoss);
  try {
    const r = new BinaryReader(bytes.subarray(2));
    const nodes: string[] = [];
    let state: CrdtState | undefined;
    readMessage(r, r.len, (no, wire) => {
      if (no === 1 && wire === WireType.LengthDelimited) nodes.push(r.string());
      else if (no === 2) state = readState(r, sub(r, wire), nodes);
      else return false;
      return true;
    });
    if (state === undefined) throw new Malformed("no state");
    return state;
  } catch (error) {
    throw new SwitchboardError(`stored CRDT state of ${where} is corrupt: ${(error as Error).message}`, Code.DataLoss, { cause: error });
  }
}
