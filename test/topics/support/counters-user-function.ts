/**
 * The user function of the value-change tests, written with the TypeScript SDK and served
 * on a real port: the `Counter` value entity (persistence id "counters"), `CounterFeed`,
 * which consumes the counters' changes (Switchboard's `(switchboard.eventing).in.value_entity`)
 * and republishes each to the "counter-changes" topic, and `CounterAudit`, a second consumer
 * group that records what it saw.
 */
import { action, type CloudEvent, createServer, type RunningServer, valueEntity } from "@switchboard/sdk";
import { Counter, CounterAudit, CounterFeed, CounterStateSchema } from "../gen/switchboard/test/topics/counters_pb.js";

/** One change as a consumer saw it: the entity, its value (undefined: deleted) and the CloudEvent attributes. */
export interface SeenChange {
  readonly method: string;
  readonly id: string;
  readonly value: bigint | undefined;
  readonly position: string;
  readonly type: string;
  /** `ce-source`, `ce-specversion` and `ce-time` as received. */
  readonly source: string;
  readonly specVersion: string;
  readonly time: string | undefined;
}

/** The running user function and what its consumers saw. */
export interface CountersUserFunction {
  readonly port: number;
  readonly seen: SeenChange[];
  close(): Promise<void>;
}

/**
 * Starts the counters user function on 127.0.0.1 (a free port unless `port` is given);
 * with `consumers: false`, the Counter entity alone (nothing consumes its changes).
 */
export async function startCountersUserFunction(port = 0, options: { consumers?: boolean } = {}): Promise<CountersUserFunction> {
  const seen: SeenChange[] = [];
  const counter = counterEntity();
  const feed = action({
    service: CounterFeed,
    handlers: {
      changed(state, ctx) {
        const position = ctx.cloudEvent?.id ?? "";
        seen.push({ method: "Changed", id: state.id, value: state.value, position, ...attributes(ctx.cloudEvent) });
        return { id: state.id, value: state.value, position };
      },
      deleted(_empty, ctx) {
        // A delete carries no state: the entity id is the CloudEvent's subject.
        const id = ctx.cloudEvent?.subject ?? "";
        const position = ctx.cloudEvent?.id ?? "";
        seen.push({ method: "Deleted", id, value: undefined, position, ...attributes(ctx.cloudEvent) });
        return { id, deleted: true, position };
      },
    },
  });
  const audit = action({
    service: CounterAudit,
    handlers: {
      seen(state, ctx) {
        seen.push({ method: "Seen", id: state.id, value: state.value, position: ctx.cloudEvent?.id ?? "", ...attributes(ctx.cloudEvent) });
        return {};
      },
    },
  });
  const running: RunningServer = await createServer({ entities: options.consumers === false ? [counter] : [counter, feed, audit] }).listen({
    host: "127.0.0.1",
    port,
  });
  return { port: running.port, seen, close: () => running.close() };
}

function attributes(event: CloudEvent | undefined): Pick<SeenChange, "type" | "source" | "specVersion" | "time"> {
  return { type: event?.type ?? "", source: event?.source ?? "", specVersion: event?.specVersion ?? "", time: event?.time };
}

/** The `Counter` value entity (persistence id "counters"): Add, Remove and Get. */
export function counterEntity() {
  return valueEntity({
    service: Counter,
    persistenceId: "counters",
    state: CounterStateSchema,
    handlers: {
      add(increase, ctx) {
        const next = { id: increase.id, value: ctx.state.value + increase.by };
        ctx.updateState(next);
        return next;
      },
      remove(_id, ctx) {
        ctx.deleteState();
        return {};
      },
      get: (_id, ctx) => ctx.state,
    },
  });
}
