import type { Duplex } from "node:stream";
import {
  ACK,
  DEFAULT_WINDOW,
  ErrorCode,
  FRAME_HEADER,
  Flag,
  FrameType,
  frame,
  goawayFrame,
  MAX_MAX_FRAME_SIZE,
  MAX_WINDOW,
  MIN_MAX_FRAME_SIZE,
  PREFACE,
  rstStreamFrame,
  Setting,
  settingsFrame,
  windowUpdateFrame,
  writeFrameHeader,
} from "./frames.js";
import { HpackDecoder, HpackError } from "./hpack.js";

/** What one stream reports. Exactly one of `closed` ends it; nothing follows. */
export interface StreamHandler {
  /** A complete header block (names and values alternating); `end` when it also ended the peer's side. */
  headers(fields: string[], end: boolean): void;
  /** A DATA payload (without padding); `end` when it ended the peer's side. */
  data(payload: Buffer, end: boolean): void;
  /**
   * The stream is over: both sides ended (`code` undefined), the peer reset it (its code),
   * or the connection went away first (`code` undefined, `lost` says why).
   */
  closed(code: number | undefined, lost: string | undefined): void;
}

/** Our receive window for the connection, and per stream as a client: large, so big state transfers do not stall. */
const WINDOW = 16 * 1024 * 1024;
/** Frames smaller than this are copied into one output buffer per flush; larger payloads are written as they are. */
const COPY_LIMIT = 4096;
const OUT_CHUNK = 16 * 1024;
/** Data waiting for the peer's flow-control window may not pass this per connection: a peer that never opens its window is given up. */
const MAX_WAITING_DATA = 64 * 1024 * 1024;
/** While this much is still waiting in the socket (the peer does not read), its PINGs get no answer. */
const MAX_UNREAD_OUTPUT = 1024 * 1024;
/** Output of one stream waiting (for the peer's window, or unread in the socket) past which its writer should wait. */
const OUTPUT_BACKLOG = 1024 * 1024;
/** A header block split over CONTINUATION frames may not grow past this (a flood of them is an attack). */
const MAX_HEADER_BLOCK = 128 * 1024;

/** One stream of a connection. Opened lazily: it gets an id when its HEADERS go out. */
export class H2Stream {
  id = 0;
  sendWindow: number;
  /** Bytes received since window was last given back. */
  unacked = 0;
  localEnded = false;
  remoteEnded = false;
  done = false;
  /** Data waiting for send window (and whether END_STREAM follows it), and its size. */
  queue: Buffer[] | undefined;
  queuedBytes = 0;
  endQueued = false;
  /** Set while waiting for a stream slot: the request head and what follows it at once. */
  waitingHead: Uint8Array | undefined;
  /** A response's trailer block, sent once the data before it had window. */
  trailers: Uint8Array | undefined;
  /** Whether reading is paused: the window is not given back, so the peer stops sending. */
  paused = false;
  /** Bytes received while paused, owed to the connection window. */
  held = 0;
  /** Runs once data that waited for the peer's window has all gone out. */
  onSent: (() => void) | undefined;
  /** Reset with NO_ERROR once our side ended, if the peer's has not: the answer came before the whole request. */
  resetWhenEnded = false;

  constructor(
    readonly connection: H2Connection,
    public handler: StreamHandler,
    sendWindow: number,
  ) {
    this.sendWindow = sendWindow;
  }

  /** Sends a header block on an open stream (a response head, or trailers when `end`). */
  sendHeaders(block: Uint8Array, end: boolean): void {
    this.connection.writeHeaders(this, block, end);
  }

  /**
   * Tells the peer to stop sending once our side is out (RST_STREAM NO_ERROR after the
   * response's last frame), as servers do when they answered before the request ended.
   */
  stopPeerAfterEnd(): void {
    if (this.done || this.remoteEnded) return;
    if (this.localEnded) this.connection.resetStream(this, ErrorCode.NoError);
    else this.resetWhenEnded = true;
  }

  /** Whether 1 MiB or more of output waits: queued for the peer's window, or unread in the socket. */
  get backlogged(): boolean {
    return this.queuedBytes >= OUTPUT_BACKLOG || this.connection.socket.writableLength >= OUTPUT_BACKLOG;
  }

  /** Runs `ready` once the backlog {@link backlogged} reported has gone out (queued data sent, or the socket drained). */
  whenDrained(ready: () => void): void {
    if (this.queuedBytes >= OUTPUT_BACKLOG) this.onSent = ready;
    else this.connection.socket.once("drain", ready);
  }

  /** Stops giving window back for this stream until {@link resume}. */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.connection.giveBack(this);
  }

  /** Sends `payload` as DATA; `end` half-closes our side. */
  write(payload: Uint8Array | undefined, end: boolean): void {
    this.connection.writeData(this, payload, end);
  }

  /** Ends our side after the peer ended its own: at once, or with a reset if data still waits for window. */
  closeLocal(): void {
    if (this.done || this.localEnded) return;
    if (this.queue !== undefined && this.queue.length > 0) this.connection.resetStream(this, ErrorCode.NoError);
    else this.connection.writeData(this, undefined, true);
  }

  /** Resets the stream (our side gives up on it); the handler hears nothing more. */
  reset(code: ErrorCode): void {
    this.connection.resetStream(this, code);
  }
}

/** What the connection tells its owner. */
export interface ConnectionEvents {
  /** The peer's first SETTINGS arrived: it speaks HTTP/2. */
  settled(): void;
  /** The peer sent GOAWAY: no new streams here. */
  goaway(code: number, debug: string): void;
  /** A frame or header block broke the protocol; the connection is closed next. */
  protocolError(detail: string): void;
  /** The last open stream ended. */
  idle?(): void;
}

/** What a connection serving HTTP/2 (the peer opens the streams) needs. */
export interface ServerRole {
  /**
   * A stream the peer opened, with its request header block; set `stream.handler` to hear
   * the rest. `end` when the request has no body.
   */
  accept(stream: H2Stream, fields: string[], end: boolean): void;
  /** Streams the peer may have open at once; one more is refused (REFUSED_STREAM). */
  readonly maxStreams: number;
  /** Our receive window per stream: what a paused stream may hold unread. */
  readonly streamWindow: number;
  /** Largest decoded request header block (RFC 9113 §6.5.2 accounting). */
  readonly maxHeaderListSize: number;
  /** Our receive window for the whole connection: what its paused streams may hold unread together. */
  readonly connectionWindow: number;
}

/** The value of the first field called `name` in a decoded header block (header blocks are short: a scan beats a map). */
export function headerField(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

const NO_HANDLER: StreamHandler = { headers() {}, data() {}, closed() {} };

/**
 * One HTTP/2 connection over a socket: the frame layer a gRPC client needs, written
 * for the proxy's hot path, and the same as a server (with a {@link ServerRole}) for the
 * front port. Frames written in one turn of the event loop go out in one socket
 * write; a stream costs one object; header blocks are encoded by the caller, once per method.
 * Flow control both ways (we advertise large windows and give them back in bulk), the peer's
 * stream limit (streams over it wait for a slot), PING, GOAWAY and RST_STREAM. No server push,
 * no priorities.
 */
export class H2Connection {
  /** Streams open or waiting for a slot (the pool's count). */
  active = 0;
  /** When the peer last sent HEADERS or DATA (ms since epoch; 0 before it did). */
  lastHeardAt = 0;
  settled = false;
  draining = false;
  closed = false;
  /** The peer's SETTINGS_MAX_CONCURRENT_STREAMS (unlimited until it says). */
  peerMaxStreams = Number.POSITIVE_INFINITY;
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxFrame = MIN_MAX_FRAME_SIZE;
  private sendWindow = DEFAULT_WINDOW;
  private unacked = 0;
  /** Bytes paused streams received and have not given back: still counted against our connection window. */
  private held = 0;
  private nextId = 1;
  /** As a server: the highest stream id taken from the peer (GOAWAY names it). */
  private lastPeerId = 0;
  /** As a server: the highest stream id the peer opened, those ignored after our GOAWAY included. */
  private peerOpened = 0;
  private readonly streamWindow: number;
  private readonly connectionWindow: number;
  /** Waiting for the client's preface (server only). */
  private awaitingPreface: boolean;
  private running = 0;
  private readonly streams = new Map<number, H2Stream>();
  private readonly waiting: H2Stream[] = [];
  /** Streams with data waiting for connection window. */
  private readonly blocked = new Set<H2Stream>();
  /** Bytes in every stream's queue. */
  private waitingData = 0;
  private readonly decoder: HpackDecoder;
  private input: Buffer | undefined;
  /** A header block still waiting for CONTINUATION frames. */
  private headerStream = 0;
  private headerEnd = false;
  private headerParts: Buffer[] = [];
  private headerBytes = 0;
  private out: Buffer[] = [];
  private chunk: Buffer | undefined;
  private chunkAt = 0;
  private flushing = false;
  /** The loop turn ({@link turn}) of this connection's last prompt flush. */
  private flushedTurn = -1;
  private pings = new Map<bigint, () => void>();
  private pingCount = 0n;
  private closeAfterDrain = false;

  constructor(
    readonly socket: Duplex,
    private readonly events: ConnectionEvents,
    private readonly server?: ServerRole,
  ) {
    this.awaitingPreface = server !== undefined;
    this.streamWindow = server?.streamWindow ?? WINDOW;
    this.connectionWindow = Math.max(DEFAULT_WINDOW, server?.connectionWindow ?? WINDOW);
    const maxHeaderList = server?.maxHeaderListSize ?? 65_536;
    this.decoder = new HpackDecoder(4096, maxHeaderList);
    if (server === undefined) {
      this.queue(PREFACE);
      this.queue(
        settingsFrame([
          [Setting.EnablePush, 0],
          [Setting.InitialWindowSize, WINDOW],
          [Setting.MaxHeaderListSize, maxHeaderList],
        ]),
      );
    } else {
      this.queue(
        settingsFrame([
          [Setting.MaxConcurrentStreams, server.maxStreams],
          [Setting.InitialWindowSize, server.streamWindow],
          [Setting.MaxHeaderListSize, maxHeaderList],
        ]),
      );
    }
    if (this.connectionWindow > DEFAULT_WINDOW) this.queue(windowUpdateFrame(0, this.connectionWindow - DEFAULT_WINDOW));
    socket.on("data", (chunk: Buffer) => this.read(chunk));
    socket.on("close", () => this.lost("the connection closed"));
  }

  /**
   * Opens a stream: `head` is its encoded request header block; `body` (if any) follows at
   * once, and `end` half-closes it right after. Waits for a slot if the peer's limit is reached.
   */
  open(head: Uint8Array, handler: StreamHandler, body: Uint8Array | undefined, end: boolean): H2Stream {
    const stream = new H2Stream(this, handler, this.peerInitialWindow);
    this.active++;
    if (this.running >= this.peerMaxStreams) {
      stream.waitingHead = head;
      if (body !== undefined || end) {
        stream.queue = [];
        if (body !== undefined) this.enqueue(stream, body);
      }
      stream.endQueued = end;
      this.waiting.push(stream);
      return stream;
    }
    this.start(stream, head);
    if (body !== undefined || end) this.writeData(stream, body, end);
    return stream;
  }

  private start(stream: H2Stream, head: Uint8Array): void {
    const id = this.nextId;
    this.nextId += 2;
    if (this.nextId > MAX_WINDOW) this.draining = true; // stream ids are spent: the pool opens another connection
    stream.id = id;
    stream.sendWindow = this.peerInitialWindow;
    this.streams.set(id, stream);
    this.running++;
    this.queueHeaderBlock(id, head, false);
  }

  /** Queues a header block as HEADERS and as many CONTINUATION frames as the peer's frame size needs. */
  private queueHeaderBlock(id: number, block: Uint8Array, end: boolean): void {
    const endFlag = end ? Flag.EndStream : 0;
    if (block.byteLength <= this.peerMaxFrame) {
      this.queueFrame(FrameType.Headers, Flag.EndHeaders | endFlag, id, block);
      return;
    }
    for (let at = 0; at < block.byteLength; at += this.peerMaxFrame) {
      const part = block.subarray(at, at + this.peerMaxFrame);
      const last = at + this.peerMaxFrame >= block.byteLength;
      this.queueFrame(at === 0 ? FrameType.Headers : FrameType.Continuation, (last ? Flag.EndHeaders : 0) | (at === 0 ? endFlag : 0), id, part);
    }
  }

  /**
   * Sends a header block on a started stream: a response head, or trailers (`end`). Trailers
   * wait behind data still waiting for window.
   */
  writeHeaders(stream: H2Stream, block: Uint8Array, end: boolean): void {
    if (stream.done || stream.localEnded || stream.endQueued || this.closed) return;
    if (end && stream.queue !== undefined) {
      stream.trailers = block;
      stream.endQueued = true;
      return;
    }
    this.queueHeaderBlock(stream.id, block, end);
    if (end) this.endLocal(stream);
  }

  /** Gives back the window a resumed stream held. */
  giveBack(stream: H2Stream): void {
    if (stream.done || this.closed) return;
    this.unacked += stream.held;
    this.held -= stream.held;
    stream.held = 0;
    if (this.unacked >= this.connectionWindow / 2) {
      this.queue(windowUpdateFrame(0, this.unacked));
      this.unacked = 0;
    }
    if (!stream.remoteEnded && stream.unacked >= this.streamWindow / 2) {
      this.queue(windowUpdateFrame(stream.id, stream.unacked));
      stream.unacked = 0;
    }
  }

  /** Sends DATA on `stream` as far as the windows allow; the rest waits for WINDOW_UPDATE. */
  writeData(stream: H2Stream, payload: Uint8Array | undefined, end: boolean): void {
    if (stream.done || stream.localEnded || stream.endQueued) return;
    if (stream.waitingHead !== undefined || stream.queue !== undefined) {
      stream.queue ??= [];
      if (payload !== undefined && payload.byteLength > 0) this.enqueue(stream, payload);
      stream.endQueued ||= end;
      if (stream.waitingHead === undefined) this.drain(stream);
      return;
    }
    const length = payload?.byteLength ?? 0;
    if (length <= this.sendWindow && length <= stream.sendWindow && length <= this.peerMaxFrame) {
      this.sendWindow -= length;
      stream.sendWindow -= length;
      this.queueFrame(FrameType.Data, end ? Flag.EndStream : 0, stream.id, payload);
      if (end) this.endLocal(stream);
      return;
    }
    stream.queue = [];
    if (payload !== undefined) this.enqueue(stream, payload);
    stream.endQueued = end;
    this.drain(stream);
  }

  /** Puts data in a stream's queue; past the connection's bound the peer is given up (it does not open its window). */
  private enqueue(stream: H2Stream, payload: Uint8Array): void {
    (stream.queue as Buffer[]).push(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength));
    stream.queuedBytes += payload.byteLength;
    this.waitingData += payload.byteLength;
    if (this.waitingData > MAX_WAITING_DATA) {
      this.fail(ErrorCode.FlowControlError, `it left ${Math.round(this.waitingData / 1048576)} MiB of requests waiting for its flow-control window`);
    }
  }

  /** Sends what the windows allow of a stream's queued data. */
  private drain(stream: H2Stream): void {
    const queue = stream.queue;
    if (queue === undefined || stream.done) return;
    while (queue.length > 0) {
      const head = queue[0] as Buffer;
      const room = Math.min(this.sendWindow, stream.sendWindow, this.peerMaxFrame);
      if (room <= 0 && head.length > 0) {
        if (this.sendWindow <= 0) this.blocked.add(stream);
        return;
      }
      const part = head.length <= room ? head : head.subarray(0, room);
      if (part.length < head.length) queue[0] = head.subarray(room);
      else queue.shift();
      stream.queuedBytes -= part.length;
      this.waitingData -= part.length;
      this.sendWindow -= part.length;
      stream.sendWindow -= part.length;
      const last = queue.length === 0 && stream.endQueued && stream.trailers === undefined;
      this.queueFrame(FrameType.Data, last ? Flag.EndStream : 0, stream.id, part);
      if (last) {
        stream.queue = undefined;
        this.endLocal(stream);
        return;
      }
    }
    stream.queue = undefined;
    this.blocked.delete(stream);
    if (stream.onSent !== undefined) {
      const sent = stream.onSent;
      stream.onSent = undefined;
      sent();
    }
    if (stream.endQueued) {
      if (stream.trailers !== undefined) this.queueHeaderBlock(stream.id, stream.trailers, true);
      else this.queueFrame(FrameType.Data, Flag.EndStream, stream.id, undefined);
      stream.trailers = undefined;
      this.endLocal(stream);
    }
  }

  private endLocal(stream: H2Stream): void {
    stream.localEnded = true;
    stream.endQueued = false;
    this.blocked.delete(stream);
    if (stream.remoteEnded) this.finish(stream, undefined, undefined);
    else if (stream.resetWhenEnded) this.resetStream(stream, ErrorCode.NoError);
  }

  /** Resets a stream from our side. */
  resetStream(stream: H2Stream, code: ErrorCode): void {
    if (stream.done) return;
    if (stream.waitingHead !== undefined) {
      const index = this.waiting.indexOf(stream);
      if (index >= 0) this.waiting.splice(index, 1);
      stream.waitingHead = undefined;
      this.waitingData -= stream.queuedBytes;
      stream.queuedBytes = 0;
      stream.done = true;
      this.active--;
      this.afterStreamEnded();
      return;
    }
    this.queue(rstStreamFrame(stream.id, code));
    stream.done = true;
    this.release(stream);
  }

  /** Sends a PING; `answered` runs when its ACK arrives. False when the connection is closed. */
  ping(answered: () => void): boolean {
    if (this.closed || this.socket.writableEnded) return false;
    const payload = Buffer.allocUnsafe(8);
    const key = ++this.pingCount;
    payload.writeBigUInt64BE(key);
    this.pings.set(key, answered);
    this.queue(frame(FrameType.Ping, 0, 0, payload));
    return true;
  }

  /** Takes no new streams and closes once the open ones are over (GOAWAY without error). */
  close(): void {
    if (this.closed || this.closeAfterDrain) return;
    this.draining = true;
    this.closeAfterDrain = true;
    this.queue(goawayFrame(ErrorCode.NoError, undefined, this.lastPeerId));
    this.afterStreamEnded();
  }

  /** Closes at once; open streams end as lost with `reason`. */
  destroy(reason: string): void {
    if (this.closed) return;
    this.lost(reason);
    this.socket.destroy();
  }

  // ---- reading -------------------------------------------------------------------------

  private read(chunk: Buffer): void {
    // After a protocol error the rest of the input is out of step: nothing more is read.
    if (this.closed) return;
    const buffer = this.input === undefined ? chunk : Buffer.concat([this.input, chunk]);
    this.input = undefined;
    let at = 0;
    if (this.awaitingPreface) {
      const n = Math.min(buffer.length, PREFACE.length);
      if (!buffer.subarray(0, n).equals(PREFACE.subarray(0, n))) {
        this.fail(ErrorCode.ProtocolError, "the connection did not open with the HTTP/2 preface");
        return;
      }
      if (buffer.length < PREFACE.length) {
        this.input = buffer;
        return;
      }
      this.awaitingPreface = false;
      at = PREFACE.length;
    }
    try {
      while (buffer.length - at >= FRAME_HEADER) {
        const length = (buffer[at]! << 16) | (buffer[at + 1]! << 8) | buffer[at + 2]!;
        if (length > MIN_MAX_FRAME_SIZE) {
          // We never raise SETTINGS_MAX_FRAME_SIZE above its default.
          throw new ProtocolError(ErrorCode.FrameSizeError, `a frame of ${length} bytes (the limit is ${MIN_MAX_FRAME_SIZE})`);
        }
        if (buffer.length - at < FRAME_HEADER + length) break;
        const type = buffer[at + 3]!;
        const flags = buffer[at + 4]!;
        const streamId = buffer.readUInt32BE(at + 5) & MAX_WINDOW;
        const payload = buffer.subarray(at + FRAME_HEADER, at + FRAME_HEADER + length);
        at += FRAME_HEADER + length;
        if (!this.settled && type !== FrameType.Settings) throw new ProtocolError(ErrorCode.ProtocolError, "the first frame was not SETTINGS");
        this.frame(type, flags, streamId, payload);
        if (this.closed) return;
      }
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      this.fail(error.code, error.message);
      return;
    }
    if (at < buffer.length) {
      this.input = at === 0 ? buffer : Buffer.from(buffer.subarray(at));
    }
  }

  private frame(type: number, flags: number, streamId: number, payload: Buffer): void {
    if (this.headerStream !== 0 && type !== FrameType.Continuation) {
      throw new ProtocolError(ErrorCode.ProtocolError, "a header block was interrupted by another frame");
    }
    switch (type) {
      case FrameType.Data:
        this.onData(flags, streamId, payload);
        return;
      case FrameType.Headers:
        this.onHeaders(flags, streamId, payload);
        return;
      case FrameType.Continuation:
        if (streamId !== this.headerStream || this.headerStream === 0) throw new ProtocolError(ErrorCode.ProtocolError, "an unexpected CONTINUATION frame");
        this.headerParts.push(payload);
        this.headerBytes += payload.length;
        if (this.headerBytes > MAX_HEADER_BLOCK) throw new ProtocolError(ErrorCode.EnhanceYourCalm, `a header block over ${MAX_HEADER_BLOCK} bytes`);
        if ((flags & Flag.EndHeaders) !== 0) this.headerBlockDone(Buffer.concat(this.headerParts));
        return;
      case FrameType.RstStream: {
        if (payload.length !== 4) throw new ProtocolError(ErrorCode.FrameSizeError, "an RST_STREAM frame of the wrong size");
        if (streamId === 0) throw new ProtocolError(ErrorCode.ProtocolError, "an RST_STREAM frame on stream 0");
        const stream = this.streams.get(streamId);
        if (stream !== undefined) this.finish(stream, payload.readUInt32BE(0), undefined);
        else this.checkOpened(streamId, "RST_STREAM");
        return;
      }
      case FrameType.Settings:
        this.onSettings(flags, streamId, payload);
        return;
      case FrameType.PushPromise:
        throw new ProtocolError(ErrorCode.ProtocolError, "a PUSH_PROMISE although push is disabled");
      case FrameType.Ping:
        if (payload.length !== 8 || streamId !== 0) throw new ProtocolError(ErrorCode.FrameSizeError, "a malformed PING frame");
        // A peer that sends PINGs but does not read our answers gets none while they pile up.
        if ((flags & ACK) === 0) {
          if (this.socket.writableLength < MAX_UNREAD_OUTPUT) this.queue(frame(FrameType.Ping, ACK, 0, payload));
        } else {
          const key = payload.readBigUInt64BE(0);
          const answered = this.pings.get(key);
          this.pings.delete(key);
          answered?.();
        }
        return;
      case FrameType.Goaway:
        this.onGoaway(payload);
        return;
      case FrameType.WindowUpdate:
        this.onWindowUpdate(streamId, payload);
        return;
      default:
        return; // PRIORITY and unknown types are ignored
    }
  }

  private onData(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ProtocolError(ErrorCode.ProtocolError, "a DATA frame on stream 0");
    this.lastHeardAt = Date.now();
    const stream = this.streams.get(streamId);
    // Window counts the whole payload, padding included, whether or not the stream is still ours;
    // a paused stream's share is given back when it resumes.
    if (stream?.paused === true && !stream.remoteEnded) {
      stream.held += payload.length;
      this.held += payload.length;
    } else this.unacked += payload.length;
    if (this.unacked + this.held > this.connectionWindow)
      throw new ProtocolError(ErrorCode.FlowControlError, "it sent more than the connection window allowed");
    if (this.unacked >= this.connectionWindow / 2) {
      this.queue(windowUpdateFrame(0, this.unacked));
      this.unacked = 0;
    }
    if (stream === undefined) {
      this.checkOpened(streamId, "DATA");
      return;
    }
    if (stream.remoteEnded) return;
    stream.unacked += payload.length;
    if (stream.unacked > this.streamWindow) {
      // A stream error: only this stream ends.
      this.queue(rstStreamFrame(streamId, ErrorCode.FlowControlError));
      this.finish(stream, ErrorCode.FlowControlError, undefined);
      return;
    }
    const end = (flags & Flag.EndStream) !== 0;
    if (!end && !stream.paused && stream.unacked >= this.streamWindow / 2) {
      this.queue(windowUpdateFrame(streamId, stream.unacked));
      stream.unacked = 0;
    }
    const data = (flags & Flag.Padded) === 0 ? payload : unpad(payload);
    if (end) stream.remoteEnded = true;
    stream.handler.data(data, end);
    if (end && !stream.done && stream.localEnded) this.finish(stream, undefined, undefined);
  }

  private onHeaders(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ProtocolError(ErrorCode.ProtocolError, "a HEADERS frame on stream 0");
    let block = (flags & Flag.Padded) === 0 ? payload : unpad(payload);
    if ((flags & Flag.Priority) !== 0) {
      if (block.length < 5) throw new ProtocolError(ErrorCode.FrameSizeError, "a HEADERS frame too short for its priority");
      block = block.subarray(5);
    }
    this.headerEnd = (flags & Flag.EndStream) !== 0;
    if ((flags & Flag.EndHeaders) !== 0) {
      this.headerStream = streamId;
      this.headerBlockDone(block);
      return;
    }
    this.headerStream = streamId;
    this.headerParts = [block];
    this.headerBytes = block.length;
  }

  private headerBlockDone(block: Buffer): void {
    const streamId = this.headerStream;
    this.lastHeardAt = Date.now();
    this.headerStream = 0;
    this.headerParts = [];
    let fields: string[];
    try {
      // Decoded even for a stream we gave up on: the peer's table changed either way.
      fields = this.decoder.decode(block);
    } catch (error) {
      if (error instanceof HpackError) throw new ProtocolError(ErrorCode.CompressionError, `a header block it sent cannot be decoded (${error.message})`);
      throw error;
    }
    const stream = this.streams.get(streamId);
    if (stream === undefined) {
      if (this.server !== undefined && streamId % 2 === 1 && streamId > this.peerOpened) this.acceptStream(this.server, streamId, fields);
      else this.checkOpened(streamId, "HEADERS");
      return;
    }
    if (stream.remoteEnded) return;
    const end = this.headerEnd;
    if (end) stream.remoteEnded = true;
    stream.handler.headers(fields, end);
    if (end && !stream.done && stream.localEnded) this.finish(stream, undefined, undefined);
  }

  private onSettings(flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) throw new ProtocolError(ErrorCode.ProtocolError, "a SETTINGS frame on a stream");
    if ((flags & ACK) !== 0) return;
    if (payload.length % 6 !== 0) throw new ProtocolError(ErrorCode.FrameSizeError, "a SETTINGS frame of the wrong size");
    for (let at = 0; at < payload.length; at += 6) {
      const id = payload.readUInt16BE(at);
      const value = payload.readUInt32BE(at + 2);
      if (id === Setting.MaxConcurrentStreams) this.peerMaxStreams = value;
      else if (id === Setting.InitialWindowSize) {
        if (value > MAX_WINDOW) throw new ProtocolError(ErrorCode.FlowControlError, `an initial window of ${value}`);
        const delta = value - this.peerInitialWindow;
        this.peerInitialWindow = value;
        for (const stream of this.streams.values()) {
          stream.sendWindow += delta;
          if (stream.sendWindow > MAX_WINDOW) throw new ProtocolError(ErrorCode.FlowControlError, "a stream window past 2^31 - 1");
        }
      } else if (id === Setting.MaxFrameSize) {
        if (value < MIN_MAX_FRAME_SIZE || value > MAX_MAX_FRAME_SIZE) throw new ProtocolError(ErrorCode.ProtocolError, `a maximum frame size of ${value}`);
        this.peerMaxFrame = value;
      }
      // Our encoder never uses the dynamic table, so the peer's table size does not matter;
      // push stays disabled whatever it says.
    }
    this.queue(frame(FrameType.Settings, ACK, 0));
    if (!this.settled) {
      this.settled = true;
      this.events.settled();
    }
    this.startWaiting();
    for (const stream of this.streams.values()) if (stream.queue !== undefined) this.drain(stream);
  }

  private onGoaway(payload: Buffer): void {
    if (payload.length < 8) throw new ProtocolError(ErrorCode.FrameSizeError, "a GOAWAY frame too short");
    const lastId = payload.readUInt32BE(0) & MAX_WINDOW;
    const code = payload.readUInt32BE(4);
    if (this.server !== undefined) {
      // A client's GOAWAY names the last stream it took from us, and we open none: it is
      // closing, and the streams it opened are still answered (it waits for them).
      this.events.goaway(code, payload.subarray(8).toString("utf8"));
      return;
    }
    this.draining = true;
    // Streams the peer never saw, and those still waiting for a slot, end as refused
    // (UNAVAILABLE); waiting ones first, so that no slot freed here starts one.
    this.refuseWaiting();
    for (const stream of [...this.streams.values()]) if (stream.id > lastId) this.finish(stream, ErrorCode.RefusedStream, undefined);
    this.events.goaway(code, payload.subarray(8).toString("utf8"));
    this.afterStreamEnded();
  }

  private onWindowUpdate(streamId: number, payload: Buffer): void {
    if (payload.length !== 4) throw new ProtocolError(ErrorCode.FrameSizeError, "a WINDOW_UPDATE frame of the wrong size");
    const increment = payload.readUInt32BE(0) & MAX_WINDOW;
    if (increment === 0) throw new ProtocolError(ErrorCode.ProtocolError, "a WINDOW_UPDATE of 0");
    if (streamId === 0) {
      this.sendWindow += increment;
      if (this.sendWindow > MAX_WINDOW) throw new ProtocolError(ErrorCode.FlowControlError, "the connection window past 2^31 - 1");
      for (const stream of [...this.blocked]) {
        this.blocked.delete(stream);
        this.drain(stream);
        if (this.sendWindow <= 0) break;
      }
      return;
    }
    const stream = this.streams.get(streamId);
    if (stream === undefined) {
      this.checkOpened(streamId, "WINDOW_UPDATE");
      return;
    }
    if (stream.sendWindow + increment > MAX_WINDOW) {
      // A stream error: only this stream ends.
      this.queue(rstStreamFrame(streamId, ErrorCode.FlowControlError));
      this.finish(stream, ErrorCode.FlowControlError, undefined);
      return;
    }
    stream.sendWindow += increment;
    if (stream.queue !== undefined) this.drain(stream);
  }

  /** A stream the peer opens (server only): refused over the stream limit, ignored once we said GOAWAY. */
  private acceptStream(server: ServerRole, streamId: number, fields: string[]): void {
    this.peerOpened = streamId;
    // After our GOAWAY, streams above its last id are ignored, and so are their later frames
    // (the peer learns from the GOAWAY that they were never taken, and may retry them elsewhere).
    if (this.draining) return;
    this.lastPeerId = streamId;
    if (this.running >= server.maxStreams) {
      this.queue(rstStreamFrame(streamId, ErrorCode.RefusedStream));
      return;
    }
    const stream = new H2Stream(this, NO_HANDLER, this.peerInitialWindow);
    stream.id = streamId;
    stream.remoteEnded = this.headerEnd;
    this.streams.set(streamId, stream);
    this.running++;
    this.active++;
    server.accept(stream, fields, this.headerEnd);
  }

  /** A frame for a stream we have no record of is fine if it was opened and ended; one never opened breaks the protocol. */
  private checkOpened(streamId: number, what: string): void {
    if (this.server !== undefined) {
      if (streamId % 2 === 0 || streamId > this.peerOpened) {
        throw new ProtocolError(ErrorCode.ProtocolError, `a ${what} frame on stream ${streamId}, which was never opened`);
      }
      return;
    }
    if (streamId % 2 === 0 || streamId >= this.nextId) {
      throw new ProtocolError(ErrorCode.ProtocolError, `a ${what} frame on stream ${streamId}, which was never opened`);
    }
  }

  // ---- stream bookkeeping --------------------------------------------------------------

  /** Ends a stream and tells its handler. */
  private finish(stream: H2Stream, code: number | undefined, lost: string | undefined): void {
    if (stream.done) return;
    stream.done = true;
    this.release(stream);
    stream.handler.closed(code, lost);
  }

  private release(stream: H2Stream): void {
    if (stream.held > 0) {
      // A stream over with window held: the connection gets it back.
      this.held -= stream.held;
      this.unacked += stream.held;
      stream.held = 0;
    }
    this.streams.delete(stream.id);
    this.blocked.delete(stream);
    this.waitingData -= stream.queuedBytes;
    stream.queuedBytes = 0;
    stream.queue = undefined;
    this.running--;
    this.active--;
    this.startWaiting();
    this.afterStreamEnded();
    if (this.active === 0) this.events.idle?.();
  }

  /** Ends every stream still waiting for a slot as refused: this connection takes no new streams. */
  private refuseWaiting(): void {
    for (const stream of this.waiting.splice(0)) {
      stream.waitingHead = undefined;
      stream.done = true;
      this.active--;
      this.waitingData -= stream.queuedBytes;
      stream.queuedBytes = 0;
      stream.handler.closed(ErrorCode.RefusedStream, undefined);
    }
  }

  private startWaiting(): void {
    while (this.waiting.length > 0 && this.running < this.peerMaxStreams && !this.draining) {
      const stream = this.waiting.shift() as H2Stream;
      const head = stream.waitingHead as Uint8Array;
      stream.waitingHead = undefined;
      this.start(stream, head);
      if (stream.queue !== undefined) this.drain(stream);
    }
    if (this.draining) this.refuseWaiting();
  }

  private afterStreamEnded(): void {
    if (this.closeAfterDrain && this.active === 0 && !this.closed) {
      this.flush();
      this.socket.end();
    }
  }

  /** The connection is gone: every stream ends as lost. */
  private lost(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.draining = true;
    const streams = [...this.streams.values(), ...this.waiting.splice(0)];
    this.streams.clear();
    this.blocked.clear();
    this.pings.clear();
    for (const stream of streams) {
      if (stream.done) continue;
      stream.done = true;
      this.active--;
      stream.handler.closed(undefined, reason);
    }
  }

  private fail(code: ErrorCode, detail: string): void {
    if (this.closed) return;
    this.events.protocolError(detail);
    this.queue(goawayFrame(code, detail, this.lastPeerId));
    this.flush();
    this.socket.end();
    this.lost(`HTTP/2 protocol error: ${detail}`);
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  // ---- writing -------------------------------------------------------------------------

  /** Queues a frame; small ones are copied into the current output chunk. */
  private queueFrame(type: FrameType, flags: number, streamId: number, payload: Uint8Array | undefined): void {
    const length = payload?.byteLength ?? 0;
    if (length > COPY_LIMIT) {
      const header = Buffer.allocUnsafe(FRAME_HEADER);
      writeFrameHeader(header, 0, length, type, flags, streamId);
      this.queue(header);
      this.queue(payload as Uint8Array);
      return;
    }
    let chunk = this.chunk;
    if (chunk === undefined || chunk.length - this.chunkAt < FRAME_HEADER + length) {
      this.sealChunk();
      chunk = this.chunk = Buffer.allocUnsafe(OUT_CHUNK);
      this.chunkAt = 0;
    }
    writeFrameHeader(chunk, this.chunkAt, length, type, flags, streamId);
    if (payload !== undefined) chunk.set(payload, this.chunkAt + FRAME_HEADER);
    this.chunkAt += FRAME_HEADER + length;
    this.scheduleFlush();
  }

  private queue(bytes: Uint8Array): void {
    this.sealChunk();
    this.out.push(bytes as Buffer);
    this.scheduleFlush();
  }

  /** Moves the filled part of the current chunk to the output list (the rest of it stays for the next frames). */
  private sealChunk(): void {
    const chunk = this.chunk;
    if (chunk === undefined || this.chunkAt === 0) return;
    this.out.push(chunk.subarray(0, this.chunkAt));
    if (chunk.length - this.chunkAt >= 256) {
      this.chunk = chunk.subarray(this.chunkAt);
    } else this.chunk = undefined;
    this.chunkAt = 0;
  }

  /**
   * The first flush of a loop turn goes out as soon as the current callback is done
   * (everything one socket read produced leaves in one write). A second one in the same
   * turn means frames are trickling in from many separate reads — HTTP/1.1 requests, one
   * per connection — so it waits for the end of the turn's I/O and takes them all in one
   * write instead of one write each.
   */
  private scheduleFlush(): void {
    if (this.flushing) return;
    this.flushing = true;
    if (this.flushedTurn === turn) {
      deferred.push(this);
      return;
    }
    this.flushedTurn = turn;
    if (!turnEnding) {
      turnEnding = true;
      setImmediate(endTurn);
    }
    process.nextTick(flushConnection, this);
  }

  /** Writes everything queued in one socket write. */
  flush(): void {
    this.flushing = false;
    this.sealChunk();
    const out = this.out;
    if (out.length === 0) return;
    this.out = [];
    const socket = this.socket;
    if (socket.destroyed || socket.writableEnded) return;
    if (out.length === 1) {
      socket.write(out[0] as Buffer);
      return;
    }
    socket.cork();
    for (const bytes of out) socket.write(bytes);
    socket.uncork();
  }
}

/** Counts event-loop turns that saw a flush: ends at the turn's check phase. */
let turn = 0;
let turnEnding = false;
/** Connections whose flush waits for the end of the turn. */
let deferred: H2Connection[] = [];

/**
 * Ends a turn: writes the deferred connections. It was scheduled by the turn's first
 * flush, so it runs ahead of the check-phase work queued after that (a group commit's
 * fsync, say) and the user function is not kept waiting behind it.
 */
function endTurn(): void {
  turn++;
  turnEnding = false;
  const connections = deferred;
  if (connections.length === 0) return;
  deferred = [];
  for (const connection of connections) connection.flush();
}

function flushConnection(connection: H2Connection): void {
  connection.flush();
}

/** A connection-level protocol violation by the peer. */
class ProtocolError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Strips the padding of a PADDED frame's payload. */
function unpad(payload: Buffer): Buffer {
  if (payload.length < 1) throw new ProtocolError(ErrorCode.FrameSizeError, "a padded frame without its pad length");
  const pad = payload[0] as number;
  if (pad >= payload.length) throw new ProtocolError(ErrorCode.ProtocolError, "padding longer than its frame");
  return payload.subarray(1, payload.length - pad);
}
