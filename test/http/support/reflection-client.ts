/**
 * A server-reflection client on @grpc/grpc-js: one ServerReflectionInfo stream where
 * each `ask` sends a request and resolves with its response, in order.
 */
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { v1alpha } from "@switchboard/protocol/reflection";

type Request = v1alpha.ServerReflectionRequest;
type Response = v1alpha.ServerReflectionResponse;

/** One open reflection stream. */
export interface ReflectionStream {
  ask(request: MessageInitShape<typeof v1alpha.ServerReflectionRequestSchema>): Promise<{ request: Request; response: Response }>;
  /** Half-closes the stream and resolves with its final status. */
  end(): Promise<grpc.StatusObject>;
  close(): void;
}

/** Opens a reflection stream to 127.0.0.1:`port` (v1alpha or v1; same wire format). */
export function openReflection(port: number, version: "v1alpha" | "v1" = "v1alpha"): ReflectionStream {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const call = client.makeBidiStreamRequest(
    `/grpc.reflection.${version}.ServerReflection/ServerReflectionInfo`,
    (r: Request) => Buffer.from(toBinary(v1alpha.ServerReflectionRequestSchema, r)),
    (b: Buffer) => fromBinary(v1alpha.ServerReflectionResponseSchema, b),
  );
  const waiting: { resolve: (r: Response) => void; reject: (e: Error) => void }[] = [];
  let status: grpc.StatusObject | undefined;
  const statusWaiters: ((s: grpc.StatusObject) => void)[] = [];
  call.on("data", (r: Response) => waiting.shift()?.resolve(r));
  call.on("error", (e: Error) => {
    for (const w of waiting.splice(0)) w.reject(e);
  });
  call.on("status", (s: grpc.StatusObject) => {
    status = s;
    for (const w of statusWaiters.splice(0)) w(s);
  });
  return {
    ask(init) {
      const request = create(v1alpha.ServerReflectionRequestSchema, init);
      return new Promise((resolve, reject) => {
        waiting.push({ resolve: (response) => resolve({ request, response }), reject });
        call.write(request);
      });
    },
    end() {
      call.end();
      return status ? Promise.resolve(status) : new Promise((resolve) => statusWaiters.push(resolve));
    },
    close() {
      call.cancel();
      client.close();
    },
  };
}
