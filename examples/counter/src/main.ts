/**
 * The counter user function: serves the counter entities on HOST:PORT (default 127.0.0.1:8080)
 * to a Cloudstate proxy.
 */
import { serve } from "@switchboard/sdk";
import { counter, counterFanout } from "./counter.js";

await serve([counter, counterFanout], { serviceName: "counter-example", serviceVersion: "0.1.0" });
