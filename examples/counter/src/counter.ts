/**
 * The counter example's entities: `CounterService`, a value entity keeping one number per
 * counter id, and `CounterFanout`, a stateless action increasing several counters at once.
 */
import { action, valueEntity } from "@switchboard/sdk";
import { CounterStateSchema } from "./gen/counter_domain_pb.js";
import { CounterFanout, CounterService } from "./gen/counter_pb.js";

/** One counter per `counter_id`, stored by the proxy under the persistence id `counter`. */
export const counter = valueEntity({
  service: CounterService,
  persistenceId: "counter",
  state: CounterStateSchema,
  handlers: {
    increase(req, ctx) {
      if (req.value < 0n) ctx.fail(`Increase requires a positive value, got ${req.value}`);
      ctx.updateState({ value: ctx.state.value + req.value });
      return {};
    },
    decrease(req, ctx) {
      if (req.value < 0n) ctx.fail(`Decrease requires a positive value, got ${req.value}`);
      ctx.updateState({ value: ctx.state.value - req.value });
      return {};
    },
    reset(_req, ctx) {
      ctx.deleteState();
      return {};
    },
    getCurrentCounter(_req, ctx) {
      return { value: ctx.state.value };
    },
  },
});

/**
 * Increases every listed counter: it answers at once and leaves the increases to the proxy, as
 * asynchronous side effects on `CounterService.Increase`.
 */
export const counterFanout = action({
  service: CounterFanout,
  handlers: {
    increaseMany(req, ctx) {
      if (req.counterIds.length === 0) ctx.fail("IncreaseMany needs at least one counter id");
      for (const counterId of req.counterIds) {
        ctx.sideEffect(CounterService.method.increase, { counterId, value: req.value });
      }
      return {};
    },
  },
});
