/** What the end-to-end test calls: a greeting over HTTP/JSON and over gRPC. */
import type { TestGrpcClient } from "@switchboard/sdk/testing";
import { Greeter } from "../src/gen/greeter_pb.js";

export const EXAMPLE = {
  service: Greeter,
  http: { method: "POST", path: "/greet", body: { name: "Ada" }, expected: { message: "Hello, Ada!" } },
  grpc: async (client: TestGrpcClient<typeof Greeter>) => ({ message: (await client.call("greet", { name: "Grace" })).message }),
  grpcExpected: { message: "Hello, Grace!" },
};
