/** The user function: serves the greeter on HOST:PORT (default 127.0.0.1:8080) to the proxy. */
import { serve } from "@switchboard/sdk";
import { greeter } from "./greeter.js";

await serve([greeter]);
