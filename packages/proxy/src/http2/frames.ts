/**
 * HTTP/2 (RFC 9113) wire constants and the frame header, for the proxy's own HTTP/2: the
 * client to the user function and the front port's server. Only what gRPC needs: no server
 * push, no priorities.
 */

/** What a client sends first on a connection, before its SETTINGS. */
export const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** Length of every frame's header: 24-bit length, type, flags, 31-bit stream id. */
export const FRAME_HEADER = 9;

export enum FrameType {
  Data = 0,
  Headers = 1,
  Priority = 2,
  RstStream = 3,
  Settings = 4,
  PushPromise = 5,
  Ping = 6,
  Goaway = 7,
  WindowUpdate = 8,
  Continuation = 9,
}

/** The ACK flag of SETTINGS and PING (the same bit as END_STREAM on other frames). */
export const ACK = 0x1;

export enum Flag {
  EndStream = 0x1,
  EndHeaders = 0x4,
  Padded = 0x8,
  Priority = 0x20,
}

export enum Setting {
  HeaderTableSize = 1,
  EnablePush = 2,
  MaxConcurrentStreams = 3,
  InitialWindowSize = 4,
  MaxFrameSize = 5,
  MaxHeaderListSize = 6,
}

/** Error codes of RST_STREAM and GOAWAY. */
export enum ErrorCode {
  NoError = 0,
  ProtocolError = 1,
  InternalError = 2,
  FlowControlError = 3,
  SettingsTimeout = 4,
  StreamClosed = 5,
  FrameSizeError = 6,
  RefusedStream = 7,
  Cancel = 8,
  CompressionError = 9,
  ConnectError = 10,
  EnhanceYourCalm = 11,
  InadequateSecurity = 12,
  Http11Required = 13,
}

/** The default and smallest SETTINGS_MAX_FRAME_SIZE, and the largest a peer may ask for. */
export const MIN_MAX_FRAME_SIZE = 16_384;
export const MAX_MAX_FRAME_SIZE = 16_777_215;
/** Every window starts at this size until SETTINGS or WINDOW_UPDATE say otherwise. */
export const DEFAULT_WINDOW = 65_535;
/** A flow-control window may not grow past 2^31 - 1. */
export const MAX_WINDOW = 0x7fff_ffff;

/** Writes a frame header at `at` of `out`. */
export function writeFrameHeader(out: Buffer, at: number, length: number, type: FrameType, flags: number, streamId: number): void {
  out[at] = length >>> 16;
  out[at + 1] = (length >>> 8) & 0xff;
  out[at + 2] = length & 0xff;
  out[at + 3] = type;
  out[at + 4] = flags;
  out.writeUInt32BE(streamId, at + 5);
}

/** A whole frame with a small payload, in a buffer of its own. */
export function frame(type: FrameType, flags: number, streamId: number, payload?: Uint8Array): Buffer {
  const length = payload?.byteLength ?? 0;
  const out = Buffer.allocUnsafe(FRAME_HEADER + length);
  writeFrameHeader(out, 0, length, type, flags, streamId);
  if (payload !== undefined) out.set(payload, FRAME_HEADER);
  return out;
}

/** A SETTINGS frame with the given (id, value) pairs. */
export function settingsFrame(settings: readonly (readonly [Setting, number])[]): Buffer {
  const payload = Buffer.allocUnsafe(settings.length * 6);
  settings.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, i * 6);
    payload.writeUInt32BE(value, i * 6 + 2);
  });
  return frame(FrameType.Settings, 0, 0, payload);
}

/** A WINDOW_UPDATE frame. */
export function windowUpdateFrame(streamId: number, increment: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + 4);
  writeFrameHeader(out, 0, 4, FrameType.WindowUpdate, 0, streamId);
  out.writeUInt32BE(increment, FRAME_HEADER);
  return out;
}

/** An RST_STREAM frame. */
export function rstStreamFrame(streamId: number, code: ErrorCode): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + 4);
  writeFrameHeader(out, 0, 4, FrameType.RstStream, 0, streamId);
  out.writeUInt32BE(code, FRAME_HEADER);
  return out;
}

/** A GOAWAY frame; `lastStreamId` is the last stream the sender took from its peer (0 for a client). */
export function goawayFrame(code: ErrorCode, debug?: string, lastStreamId = 0): Buffer {
  const text = debug === undefined ? undefined : Buffer.from(debug, "utf8");
  const payload = Buffer.alloc(8 + (text?.length ?? 0));
  payload.writeUInt32BE(lastStreamId, 0);
  payload.writeUInt32BE(code, 4);
  if (text !== undefined) payload.set(text, 8);
  return frame(FrameType.Goaway, 0, 0, payload);
}
