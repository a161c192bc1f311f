/** The greeter: a stateless action. */
import { action } from "@switchboard/sdk";
import { Greeter } from "./gen/greeter_pb.js";

export const greeter = action({
  service: Greeter,
  handlers: {
    greet(req, ctx) {
      if (req.name === "") ctx.fail("Greet needs a name");
      return { message: `Hello, ${req.name}!` };
    },
  },
});
