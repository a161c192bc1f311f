/** The user function: serves the cart on HOST:PORT (default 127.0.0.1:8080) to the proxy. */
import { serve } from "@switchboard/sdk";
import { cart } from "./cart.js";

await serve([cart]);
