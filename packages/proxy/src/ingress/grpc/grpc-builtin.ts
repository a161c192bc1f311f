import type { IncomingHttpHeaders } from "node:http2";
import { Code, SwitchboardError } from "../../errors/index.js";
import type { H2Stream } from "../../http2/connection.js";
import { ErrorCode } from "../../http2/frames.js";
import { encodeHeaderBlock } from "../../http2/hpack.js";
import { encodeGrpcMessage, FrameParser, frameMessage } from "../../internal/grpc-framing.js";
import { startGrpcCall } from "../call/grpc-call.js";
import { replyHeaders } from "../http/metadata.js";
import type { GrpcHandlerOptions } from "./grpc-handler.js";

type Field = readonly [string, string];
const HEAD: readonly Field[] = [
  [":status", "200"],
  ["content-type", "application/grpc"],
  ["grpc-accept-encoding", "identity"],
];
/** The response head of a reply without metadata and the trailers of a call that succeeded: encoded once. */
const RESPONSE_HEAD = encodeHeaderBlock(HEAD);
const OK_TRAILERS = encodeHeaderBlock([["grpc-status", "0"]]);
/** A call that succeeded without a reply: head and status in one block. */
const OK_ONLY = encodeHeaderBlock([...HEAD, ["grpc-status", "0"]]);

/**
 * Serves gRPC calls on the proxy's own HTTP/2 server (`h2/front-connection.ts`): the same
 * call layer as `grpc-handler.ts` (`call/grpc-call.ts`), with header blocks encoded once
 * where they never change and no stream object of Node's in between.
 */
export function createBuiltinGrpcHandler(options: GrpcHandlerOptions): (stream: H2Stream, headers: IncomingHttpHeaders, end: boolean) => void {
  const { models, dispatcher, logger, requestQueueLimit, maxMessageSize, clientMessage } = options;
  const statusBlock = (error: SwitchboardError | undefined, head: boolean): Uint8Array => {
    if (error === undefined) return head ? OK_ONLY : OK_TRAILERS;
    return encodeHeaderBlock([...(head ? HEAD : []), ["grpc-status", String(error.code)], ["grpc-message", encodeGrpcMessage(clientMessage(error))]]);
  };
  return (stream, headers, end) => {
    const path = headers[":path"] as string;
    if (headers[":method"] !== "POST") {
      // gRPC calls are POSTs; anything else is refused before it can run.
      stream.sendHeaders(
        encodeHeaderBlock([
          [":status", "405"],
          ["allow", "POST"],
          ["content-type", "application/grpc"],
          ["grpc-status", String(Code.Unimplemented)],
          ["grpc-message", encodeGrpcMessage(`gRPC calls are POST requests, not ${String(headers[":method"])}`)],
        ]),
        true,
      );
      stream.stopPeerAfterEnd();
      return;
    }
    let opened = false;
    let gone = false;
    /** Resolves a reply waiting for output to drain. */
    let drained: (() => void) | undefined;
    const parser = new FrameParser(maxMessageSize);
    const call = startGrpcCall({
      models,
      dispatcher,
      logger,
      requestQueueLimit,
      path,
      headers,
      sink: {
        open(reply) {
          if (gone) return;
          opened = true;
          const extra = reply?.metadata === undefined || reply.metadata.length === 0 ? undefined : replyHeaders(reply);
          stream.sendHeaders(extra === undefined ? RESPONSE_HEAD : encodeHeaderBlock([...HEAD, ...metadataFields(extra)]), false);
        },
        send(message) {
          if (gone) return;
          stream.write(frameMessage(message), false);
          if (!stream.backlogged) return;
          // The client's window is closed, or it does not read: the next reply waits until the backlog went out.
          return new Promise<void>((resolve) => {
            drained = resolve;
            stream.whenDrained(resolve);
          });
        },
        close(error) {
          if (gone) return;
          if (!opened) {
            // Trailers-only response: the status in the headers of a single frame.
            stream.sendHeaders(statusBlock(error, true), true);
          } else stream.sendHeaders(statusBlock(error, false), true);
          // The status came before the request ended: stop the client sending, once the status is out.
          stream.stopPeerAfterEnd();
        },
        pause: () => stream.pause(),
        resume: () => stream.resume(),
      },
    });
    if (call.finished) return;
    stream.handler = {
      headers(_fields, ended) {
        // Request trailers carry nothing gRPC reads; they only end the request.
        if (ended) finishRequest();
      },
      data(payload, ended) {
        if (payload.length > 0) {
          try {
            for (const message of parser.push(payload)) call.message(message);
          } catch (error) {
            call.fail(error);
          }
        }
        if (ended) finishRequest();
      },
      closed(code) {
        gone = true;
        drained?.();
        if (!call.finished) call.cancel();
        if (code !== undefined && code !== ErrorCode.NoError && code !== ErrorCode.Cancel) logger.debug("gRPC stream reset by the client", { path, code });
      },
    };
    const finishRequest = () => {
      if (call.finished) return;
      if (parser.pending) call.fail(new SwitchboardError("truncated request message", Code.Internal));
      else call.end();
    };
    if (end) finishRequest();
  };
}

/** Reply metadata as header fields. */
function metadataFields(headers: Record<string, string | string[]>): Field[] {
  const fields: Field[] = [];
  for (const name in headers) {
    const value = headers[name] as string | string[];
    if (Array.isArray(value)) for (const one of value) fields.push([name, one]);
    else fields.push([name, value]);
  }
  return fields;
}
