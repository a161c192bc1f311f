/** What the end-to-end test calls: an increase over HTTP/JSON, then a read over gRPC. */
import type { TestGrpcClient } from "@switchboard/sdk/testing";
import { CounterService } from "../src/gen/counter_pb.js";

export const EXAMPLE = {
  service: CounterService,
  http: { method: "POST", path: "/counters/c1/increase", body: { value: 5 }, expected: {} },
  grpc: async (client: TestGrpcClient<typeof CounterService>) => ({ value: (await client.call("getCurrentCounter", { counterId: "c1" })).value }),
  grpcExpected: { value: 5n },
};
