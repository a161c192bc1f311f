import * as http2 from "node:http2";
import { type DescMessage, type DescMethod, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { Code, SwitchboardError } from "../errors/index.js";
import { decodeGrpcMessage, FrameParser, frameMessage, frameMessages } from "../internal/grpc-framing.js";
import type { CallOptions, ChannelEvent, StreamHandlers, UserFunctionClient, UserFunctionClientOptions } from "./client.js";

const { NGHTTP2_CANCEL } = http2.constants;

/** Connection-level settings: large windows so big state transfers don't stall on flow control. */
const WINDOW = 16 * 1024 * 1024;

function grpcTimeout(deadline: number): string {
  return `${Math.max(1, Math.ceil(deadline - Date.now()))}m`;
}

function statusError(code: number, message: string, target: string): SwitchboardError {
  if (code === Code.Unavailable) return new SwitchboardError(`user function at ${target} is unavailable: ${message}`, Code.Unavailable);
  if (code === Code.DeadlineExceeded) return new SwitchboardError(`user function at ${target} did not answer in time`, Code.DeadlineExceeded);
  if (code in Code) return new SwitchboardError(message, code as Code);
  return new SwitchboardError(message, Code.Unknown);
}

/**
 * One gRPC call over an HTTP/2 stream: frames the requests, parses the responses and
 * turns the status (trailers, trailers-only headers, or a reset) into one `onEnd`.
 */
function openCall<O>(
  session: http2.ClientHttp2Session,
  path: string,
  decode: (bytes: Uint8Array) => O,
  handlers: StreamHandlers<O>,
  options: { deadline?: number; signal?: AbortSignal; maxMessageSize: number; target: string },
): { stream: http2.ClientHttp2Stream; cancel(): void } {
  const headers: http2.OutgoingHttpHeaders = {
    ":method": "POST",
    ":path": path,
    "content-type": "application/grpc",
    te: "trailers",
  };
  if (options.deadline !== undefined) headers["grpc-timeout"] = grpcTimeout(options.deadline);
  const stream = session.request(headers);
  const parser = new FrameParser(options.maxMessageSize);
  let ended = false;
  let status: { code: number; message: string } | undefined;
  let timer: NodeJS.Timeout | undefined;
  const finish = (error: SwitchboardError | undefined) => {
    if (ended) return;
    ended = true;
    if (timer) clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
    handlers.onEnd(error);
  };
  const fail = (error: SwitchboardError) => {
    finish(error);
    if (!stream.closed) stream.close(NGHTTP2_CANCEL);
  };
  const onAbort = () => fail(new SwitchboardError("call cancelled", Code.Canceled));
  if (options.signal?.aborted) queueMicrotask(onAbort);
  else options.signal?.addEventListener("abort", onAbort, { once: true });
  if (options.deadline !== undefined) {
    timer = setTimeout(
      () => fail(new SwitchboardError(`user function at ${options.target} did not answer in time`, Code.DeadlineExceeded)),
      Math.max(0, options.deadline - Date.now()),
    );
  }
  const readStatus = (h: http2.IncomingHttpHeaders) => {
    const raw = h["grpc-status"];
    if (raw !== undefined) status = { code: Number(raw), message: decodeGrpcMessage(String(h["grpc-message"] ?? "")) };
  };
  stream.on("response", (h) => {
    const httpStatus = Number(h[":status"]);
    if (httpStatus !== 200) {
      fail(new SwitchboardError(`user function at ${options.target} answered HTTP ${httpStatus}`, httpStatus === 503 ? Code.Unavailable : Code.Unknown));
      return;
    }
    readStatus(h);
  });
  stream.on("trailers", readStatus);
  stream.on("data", (chunk: Buffer) => {
    if (ended) return;
    let messages: Buffer[];
    try {
      messages = parser.push(chunk);
    } catch (error) {
      const e = error as SwitchboardError;
      fail(
        e.code === Code.ResourceExhausted ? new SwitchboardError(`message from the user function is too large: ${e.rawMessage}`, Code.ResourceExhausted) : e,
      );
      return;
    }
    for (const message of messages) {
      let decoded: O;
      try {
        decoded = decode(message);
      } catch (error) {
        fail(new SwitchboardError(`cannot decode a message from the user function on ${path}: ${(error as Error).message}`, Code.Internal));
        return;
      }
      handlers.onMessage(decoded);
      if (ended) return;
    }
  });
  stream.on("error", () => {
    // Reported through 'close' below, with the reset code.
  });
  // The call is over once the user function ended its side with a status, even while
  // our side is still open (an entity stream the user function closed): close ours too.
  stream.on("end", () => {
    if (ended || status === undefined) return;
    const final = status;
    finish(final.code === 0 ? undefined : statusError(final.code, final.message, options.target));
    // Half-closing here, on top of the remote end, completes the stream; an RST on a stream
    // that was just half-closed can spin Node 20's http2 session, so close only if still open.
    if (!stream.closed && !stream.writableEnded) stream.end();
  });
  stream.on("close", () => {
    if (ended) return;
    if (status === undefined) {
      const reset = stream.rstCode !== undefined && stream.rstCode !== 0 ? ` (reset code ${stream.rstCode})` : "";
      finish(new SwitchboardError(`user function at ${options.target} is unavailable: the stream ended without a status${reset}`, Code.Unavailable));
    } else if (status.code === 0) {
      finish(undefined);
    } else {
      finish(statusError(status.code, status.message, options.target));
    }
  });
  return { stream, cancel: () => fail(new SwitchboardError("call cancelled", Code.Canceled)) };
}

/**
 * The client to the user function over `node:http2`, speaking gRPC directly: one
 * HTTP/2 session, a stream per call, no per-call interceptors or metadata objects. It
 * reconnects with backoff after the session is lost, and reports `ready`/`lost`
 * transitions so the proxy can discover again.
 */
export function createHttp2UserFunctionClient(options: UserFunctionClientOptions): UserFunctionClient {
  const target = `${options.host}:${options.port}`;
  const authority = `http://${options.host.includes(":") ? `[${options.host}]` : options.host}:${options.port}`;
  const listeners = new Set<(event: ChannelEvent) => void>();
  let session: http2.ClientHttp2Session | undefined;
  let connected = false;
  let closed = false;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let backoff = 200;

  const emit = (event: ChannelEvent) => {
    for (const listener of listeners) listener(event);
  };
  const scheduleReconnect = () => {
    if (closed || reconnectTimer !== undefined || listeners.size === 0) return;
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      if (!closed && session === undefined) connect();
    }, backoff);
    reconnectTimer.unref();
    backoff = Math.min(backoff * 2, 2000);
  };
  const connect = (): http2.ClientHttp2Session => {
    const s = http2.connect(authority, { settings: { initialWindowSize: WINDOW, enablePush: false }, maxSessionMemory: 64 });
    session = s;
    s.on("connect", () => {
      s.setLocalWindowSize(WINDOW);
      backoff = 200;
      if (!connected) {
        connected = true;
        emit("ready");
      }
    });
    const drop = () => {
      if (session === s) session = undefined;
      if (connected) {
        connected = false;
        emit("lost");
      }
      scheduleReconnect();
    };
    s.on("error", () => {});
    s.on("goaway", () => {
      if (session === s) session = undefined;
    });
    s.on("close", drop);
    return s;
  };
  const sessionFor = (): http2.ClientHttp2Session => {
    if (closed) throw new SwitchboardError("the user-function client is closed", Code.Unavailable);
    const s = session;
    if (s !== undefined && !s.closed && !s.destroyed) return s;
    return connect();
  };
  const pathOf = (method: DescMethod) => `/${method.parent.typeName}/${method.name}`;
  const encoder = (schema: DescMessage) => (message: unknown) => frameMessage(toBinary(schema, message as MessageShape<DescMessage>));

  return {
    target,
    unary(method, request, callOptions?: CallOptions) {
      return new Promise((resolve, reject) => {
        let response: MessageShape<typeof method.output> | undefined;
        let stream: http2.ClientHttp2Stream;
        try {
          ({ stream } = openCall(
            sessionFor(),
            pathOf(method),
            (bytes) => fromBinary(method.output, bytes),
            {
              onMessage(message) {
                response = message;
              },
              onEnd(error) {
                if (error) reject(error);
                else if (response === undefined) reject(new SwitchboardError(`user function sent no response on ${pathOf(method)}`, Code.Internal));
                else resolve(response);
              },
            },
            { ...callOptions, maxMessageSize: options.maxMessageSize, target },
          ));
        } catch (error) {
          reject(SwitchboardError.from(error, Code.Unavailable));
          return;
        }
        stream.end(encoder(method.input)(request));
      });
    },
    stream(method, handlers, callOptions) {
      const encode = encoder(method.input);
      let call: ReturnType<typeof openCall<MessageShape<typeof method.output>>>;
      try {
        call = openCall(sessionFor(), pathOf(method), (bytes) => fromBinary(method.output, bytes), handlers, {
          ...(callOptions?.deadline !== undefined ? { deadline: callOptions.deadline } : {}),
          ...(callOptions?.signal !== undefined ? { signal: callOptions.signal } : {}),
          maxMessageSize: options.maxMessageSize,
          target,
        });
      } catch (error) {
        const e = SwitchboardError.from(error, Code.Unavailable);
        queueMicrotask(() => handlers.onEnd(e));
        return { send() {}, sendEncoded() {}, end() {}, cancel() {} };
      }
      const { stream } = call;
      if (method.methodKind === "server_streaming") stream.end(encode(callOptions?.first));
      return {
        send(message) {
          if (!stream.closed && !stream.writableEnded) stream.write(encode(message));
        },
        sendEncoded(messages) {
          if (stream.closed || stream.writableEnded || messages.length === 0) return;
          stream.write(frameMessages(messages));
        },
        end() {
          if (!stream.closed && !stream.writableEnded) stream.end();
        },
        cancel() {
          call.cancel();
        },
      };
    },
    onChannelEvent(listener) {
      listeners.add(listener);
      if (session === undefined && !closed) connect();
      else if (connected) listener("ready");
      return () => listeners.delete(listener);
    },
    close() {
      closed = true;
      if (reconnectTimer) clearTimeout(reconnectTimer);
      session?.close();
      session = undefined;
    },
  };
}
