/**
 * A small gRPC client for tests: calls any method of the proxy with protobuf-es
 * messages over @grpc/grpc-js, and returns statuses as values for easy assertions.
 */
import { type DescMessage, fromBinary, type MessageInitShape, type MessageShape, toBinary, create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";

/** An outcome of a call: the messages received and the final status. */
export interface CallResult<O> {
  readonly messages: O[];
  readonly code: grpc.status;
  readonly details: string;
  readonly metadata: grpc.Metadata | undefined;
}

/** A client to the proxy's front port. */
export interface TestClient {
  unary<I extends DescMessage, O extends DescMessage>(
    path: string,
    input: I,
    output: O,
    request: MessageInitShape<I>,
    options?: { metadata?: Record<string, string>; deadlineMs?: number },
  ): Promise<CallResult<MessageShape<O>>>;
  serverStream<I extends DescMessage, O extends DescMessage>(
    path: string,
    input: I,
    output: O,
    request: MessageInitShape<I>,
  ): Promise<CallResult<MessageShape<O>>>;
  clientStream<I extends DescMessage, O extends DescMessage>(
    path: string,
    input: I,
    output: O,
    requests: MessageInitShape<I>[],
  ): Promise<CallResult<MessageShape<O>>>;
  bidi<I extends DescMessage, O extends DescMessage>(path: string, input: I, output: O, requests: MessageInitShape<I>[]): Promise<CallResult<MessageShape<O>>>;
  /** The raw grpc-js client, for unusual calls. */
  readonly raw: grpc.Client;
  close(): void;
}

export function createTestClient(port: number, options: { maxMessageSize?: number } = {}): TestClient {
  const raw = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    "grpc.max_send_message_length": options.maxMessageSize ?? 64 * 1024 * 1024,
    "grpc.max_receive_message_length": options.maxMessageSize ?? 64 * 1024 * 1024,
  });
  const ser = (input: DescMessage) => (v: MessageInitShape<DescMessage>) => Buffer.from(toBinary(input, create(input, v)));
  const de = (output: DescMessage) => (b: Buffer) => fromBinary(output, b);
  const meta = (m?: Record<string, string>) => {
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(m ?? {})) md.set(k, v);
    return md;
  };
  const collect = <O>(call: grpc.ClientReadableStream<O> | grpc.ClientDuplexStream<unknown, O>): Promise<CallResult<O>> =>
    new Promise((resolve) => {
      const messages: O[] = [];
      let headers: grpc.Metadata | undefined;
      call.on("metadata", (m: grpc.Metadata) => {
        headers = m;
      });
      call.on("data", (m: O) => messages.push(m));
      call.on("error", () => {});
      call.on("status", (s: grpc.StatusObject) => resolve({ messages, code: s.code, details: s.details, metadata: headers }));
    });
  return {
    raw,
    unary(path, input, output, request, options) {
      return new Promise((resolve) => {
        let headers: grpc.Metadata | undefined;
        const call = raw.makeUnaryRequest(
          path,
          ser(input) as (v: unknown) => Buffer,
          de(output) as (b: Buffer) => MessageShape<typeof output>,
          request,
          meta(options?.metadata),
          options?.deadlineMs !== undefined ? { deadline: Date.now() + options.deadlineMs } : {},
          (error, response) => {
            if (error) resolve({ messages: [], code: error.code, details: error.details, metadata: headers });
            else resolve({ messages: response === undefined ? [] : [response], code: grpc.status.OK, details: "", metadata: headers });
          },
        );
        call.on("metadata", (m) => {
          headers = m;
        });
      });
    },
    serverStream(path, input, output, request) {
      return collect(
        raw.makeServerStreamRequest(path, ser(input) as (v: unknown) => Buffer, de(output) as (b: Buffer) => MessageShape<typeof output>, request, meta()),
      );
    },
    clientStream(path, input, output, requests) {
      return new Promise((resolve) => {
        const call = raw.makeClientStreamRequest(
          path,
          ser(input) as (v: unknown) => Buffer,
          de(output) as (b: Buffer) => MessageShape<typeof output>,
          meta(),
          (error, response) => {
            if (error) resolve({ messages: [], code: error.code, details: error.details, metadata: undefined });
            else resolve({ messages: response === undefined ? [] : [response], code: grpc.status.OK, details: "", metadata: undefined });
          },
        );
        for (const r of requests) call.write(r);
        call.end();
      });
    },
    bidi(path, input, output, requests) {
      const call = raw.makeBidiStreamRequest(path, ser(input) as (v: unknown) => Buffer, de(output) as (b: Buffer) => MessageShape<typeof output>, meta());
      const result = collect(call);
      for (const r of requests) call.write(r);
      call.end();
      return result;
    },
    close: () => raw.close(),
  };
}

/** Polls `check` until it returns true or `timeoutMs` passes. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 3000, what = "condition"): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
