/** The user function: serves the counter on HOST:PORT (default 127.0.0.1:8080) to the proxy. */
import { serve } from "@switchboard/sdk";
import { counter } from "./counter.js";

await serve([counter]);
