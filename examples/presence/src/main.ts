/**
 * The presence user function: serves the presence entity on HOST:PORT (default
 * 127.0.0.1:8080) to a Cloudstate proxy.
 */
import { serve } from "@switchboard/sdk";
import { presence } from "./presence.js";

await serve([presence], { serviceName: "presence-example", serviceVersion: "0.1.0" });
