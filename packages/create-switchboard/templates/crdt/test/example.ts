/** What the end-to-end test calls: a like over HTTP/JSON, then the count over gRPC. */
import type { TestGrpcClient } from "@switchboard/sdk/testing";
import { LikeService } from "../src/gen/likes_pb.js";

export const EXAMPLE = {
  service: LikeService,
  http: { method: "POST", path: "/posts/p1/like", body: {}, expected: { count: "1" } },
  grpc: async (client: TestGrpcClient<typeof LikeService>) => ({ count: (await client.call("getLikes", { postId: "p1" })).count }),
  grpcExpected: { count: 1n },
};
