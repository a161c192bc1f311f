import type { EntityServiceModel } from "../descriptors/service-model.js";
import type { EntityRuntime } from "../entities/shared/types.js";
import type { Store } from "../store/types.js";
import type { SpanRef, Tracer } from "./tracer.js";

/** Child spans of a call inside stateful entities. */
export interface EntityTracing {
  /** Traces each command as the user-function exchange of its call. */
  runtime(runtime: EntityRuntime, service: EntityServiceModel): EntityRuntime;
  /** Traces each state write as a store-commit child of the command it belongs to. */
  store(store: Store): Store;
}

/**
 * Spans for entity commands and their store commits. A command's reply arrives on the
 * entity's long-lived user-function stream, outside the call's async context, so the
 * store wrapper finds its parent by entity: the commands of one entity are answered in
 * order, so the oldest command in flight for that entity owns the write.
 */
export function createEntityTracing(tracer: Tracer): EntityTracing {
  const inFlight = new Map<string, SpanRef[]>();
  const enter = (key: string, ref: SpanRef) => {
    const queue = inFlight.get(key);
    if (queue === undefined) inFlight.set(key, [ref]);
    else queue.push(ref);
  };
  const leave = (key: string, ref: SpanRef) => {
    const queue = inFlight.get(key);
    if (queue === undefined) return;
    const at = queue.indexOf(ref);
    if (at >= 0) queue.splice(at, 1);
    if (queue.length === 0) inFlight.delete(key);
  };
  const owner = (key: string) => inFlight.get(key)?.[0];
  const commit = <T>(key: string, what: string, write: () => Promise<T>) =>
    tracer.step("store commit", { "switchboard.store.write": what, "switchboard.entity": key }, write, owner(key));

  return {
    runtime(runtime, service) {
      const traced: EntityRuntime = Object.create(runtime) as EntityRuntime;
      return Object.assign(traced, {
        handle: (command: Parameters<EntityRuntime["handle"]>[0]) => {
          const key = `${service.persistenceId}|${command.entityId}`;
          return tracer.step(
            `user-function ${service.name}/${command.method.name}`,
            { "switchboard.entity.kind": service.kind, "switchboard.entity.id": command.entityId },
            async () => {
              const ref = tracer.active();
              if (ref !== undefined) enter(key, ref);
              try {
                return await runtime.handle(command);
              } finally {
                if (ref !== undefined) leave(key, ref);
              }
            },
          );
        },
        close: () => runtime.close(),
        ...(runtime.passivate === undefined ? {} : { passivate: (id: string) => runtime.passivate!(id) }),
        ...(runtime.handleStreamed === undefined ? {} : { handleStreamed: runtime.handleStreamed.bind(runtime) }),
      });
    },
    store(store) {
      return new Proxy(store, {
        get(target, property) {
          if (property === "writeValue") {
            return (write: Parameters<Store["writeValue"]>[0]) =>
              commit(`${write.persistenceId}|${write.entityId}`, write.kind, () => target.writeValue(write));
          }
          if (property === "append") return (append: Parameters<Store["append"]>[0]) => commit(append.journalId, "append", () => target.append(append));
          if (property === "putCrdt") {
            return (persistenceId: string, entityId: string, state: Uint8Array | undefined) =>
              commit(`${persistenceId}|${entityId}`, "crdt", () => target.putCrdt(persistenceId, entityId, state));
          }
          const value: unknown = Reflect.get(target, property, target);
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
    },
  };
}
