/** The counter: a value entity keeping one number per counter id. */
import { valueEntity } from "@switchboard/sdk";
import { CounterService, CounterStateSchema } from "./gen/counter_pb.js";

export const counter = valueEntity({
  service: CounterService,
  persistenceId: "counter",
  state: CounterStateSchema,
  handlers: {
    increase(req, ctx) {
      if (req.value < 0n) ctx.fail(`Increase takes a positive value, got ${req.value}`);
      ctx.updateState({ value: ctx.state.value + req.value });
      return {};
    },
    getCurrentCounter(_req, ctx) {
      return { value: ctx.state.value };
    },
  },
});
