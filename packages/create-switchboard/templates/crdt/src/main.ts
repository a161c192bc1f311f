/** The user function: serves the likes on HOST:PORT (default 127.0.0.1:8080) to the proxy. */
import { serve } from "@switchboard/sdk";
import { likes } from "./likes.js";

await serve([likes]);
