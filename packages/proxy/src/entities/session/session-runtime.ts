import type { DescMessage } from "@bufbuild/protobuf";
import { LOCAL_WRITER } from "../../store/types.js";
import type { EntityCommand, EntityRuntime, RuntimeEnvironment } from "../shared/types.js";
import { EntitySession, type SessionHost, type SessionProtocol } from "./entity-session.js";

/**
 * The runtime of one stateful entity service: one {@link EntitySession} per active
 * entity, created on its first command. A session that retires (passivation, stop,
 * delete) is forgotten at once; the next activation of the same entity reads the store
 * only after the retired session's writes have settled.
 */
export function createSessionRuntime<I extends DescMessage, O extends DescMessage>(
  protocol: SessionProtocol<I, O>,
  context: RuntimeEnvironment,
): EntityRuntime {
  const sessions = new Map<string, EntitySession<I, O>>();
  const barriers = new Map<string, Promise<void>>();
  const host: SessionHost = {
    context,
    retire(session, writes) {
      if (sessions.get(session.entityId) === session) sessions.delete(session.entityId);
      context.activeEntities.remove(session);
      context.metrics?.passivated(context.service.kind, context.service.name);
      barriers.set(session.entityId, writes);
      void writes.then(() => {
        if (barriers.get(session.entityId) === writes) barriers.delete(session.entityId);
      });
    },
    touched(session) {
      context.activeEntities.touch(session);
    },
  };
  const sessionFor = (command: EntityCommand): EntitySession<I, O> => {
    let session = sessions.get(command.entityId);
    if (session === undefined) {
      session = new EntitySession(protocol, host, command.entityId, command.writer ?? LOCAL_WRITER);
      sessions.set(command.entityId, session);
      context.metrics?.activated(context.service.kind, context.service.name);
      session.start(barriers.get(command.entityId) ?? Promise.resolve());
      context.activeEntities.add(session);
    }
    return session;
  };
  return {
    handle: (command) => sessionFor(command).handle(command),
    ...(protocol.scheduling === "concurrent" ? { handleStreamed: (command: EntityCommand) => sessionFor(command).handleStreamed(command) } : {}),
    get activeCount() {
      return sessions.size;
    },
    async passivate(entityId) {
      const session = sessions.get(entityId);
      if (session === undefined) return false;
      await session.passivate();
      return true;
    },
    async passivateWhere(select) {
      const chosen = [...sessions.values()].filter((session) => select(context.service, session.entityId));
      await Promise.all(chosen.map((session) => session.passivate()));
    },
    async close() {
      const all = [...sessions.values()];
      sessions.clear();
      await Promise.all(all.map((session) => session.shutdown()));
    },
  };
}
