/** Likes: a CRDT entity holding a GCounter per post. */
import { crdtEntity, createGCounter } from "@switchboard/sdk";
import { LikeService } from "./gen/likes_pb.js";

export const likes = crdtEntity({
  service: LikeService,
  crdt: () => createGCounter(),
  handlers: {
    like(_req, ctx) {
      ctx.state.increment(1);
      return { count: ctx.state.value };
    },
    getLikes(_req, ctx) {
      return { count: ctx.state.value };
    },
  },
});
