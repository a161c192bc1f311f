/**
 * The presence example's entity: `com.example.presence.Presence`, a CRDT entity per chat room
 * whose CRDT is an ORSet of the room's open connections. `Connect` adds the caller's connection
 * and removes it when the client cancels the call; `Connect` and `Watch` stream the online users
 * whenever they change, so clients see others join and leave live.
 */
import { randomUUID } from "node:crypto";
import type { ORSet, StreamedCrdtContext } from "@switchboard/sdk";
import { CommandFailure, codecs, crdtEntity, createORSet } from "@switchboard/sdk";
import type { Connection, OnlineSchema } from "./gen/presence_pb.js";
import { ConnectionSchema, Presence } from "./gen/presence_pb.js";

/** The users of a room's connections: sorted, each once. */
export function onlineUsers(connections: ORSet<Connection>): string[] {
  return [...new Set(connections.values().map((c) => c.user))].sort();
}

/**
 * Streams the online users to the call on every change of the room, skipping changes that leave
 * the list as it was (another connection of a user already online).
 */
function streamOnline(ctx: StreamedCrdtContext<ORSet<Connection>, typeof OnlineSchema>): string[] {
  let last = onlineUsers(ctx.state);
  ctx.onStateChange((connections) => {
    const users = onlineUsers(connections);
    if (users.length === last.length && users.every((u, i) => u === last[i])) return undefined;
    last = users;
    return { users };
  });
  return last;
}

/** One ORSet of open connections per room. */
export const presence = crdtEntity({
  service: Presence,
  crdt: () => createORSet(codecs.message(ConnectionSchema)),
  handlers: {
    connect(req, ctx) {
      if (req.user === "") throw new CommandFailure("Connect needs a user name");
      if (!ctx.streamed) throw new CommandFailure("Connect keeps the user online while the call is open; call it as a stream");
      const connection: Connection = { $typeName: "com.example.presence.Connection", user: req.user, connectionId: randomUUID() };
      ctx.state.add(connection);
      ctx.onCancel((connections) => connections.remove(connection));
      return { users: streamOnline(ctx) };
    },
    watch(_req, ctx) {
      if (!ctx.streamed) return { users: onlineUsers(ctx.state) };
      return { users: streamOnline(ctx) };
    },
    getOnline(_req, ctx) {
      return { users: onlineUsers(ctx.state) };
    },
  },
});
