/**
 * The orders user function: serves the order entity and the shipping action on HOST:PORT
 * (default 127.0.0.1:8080) to a Cloudstate proxy.
 */
import { serve } from "@switchboard/sdk";
import { orderEntity, shipping } from "./orders.js";

await serve([orderEntity, shipping], { serviceName: "orders-example", serviceVersion: "0.1.0" });
