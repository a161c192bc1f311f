/**
 * The TypeScript SDK's TCK user function: every Cloudstate TCK model service and the shopping
 * cart sample (see `entities.ts`) in one process, serving HOST:PORT (default 127.0.0.1:8080).
 *
 *   HOST=127.0.0.1 PORT=8080 node --import tsx test/conformance/supports/typescript-sdk/main.ts
 */
import { serve } from "@switchboard/sdk";
import { entities } from "./entities.js";

await serve(entities, { serviceName: "switchboard-typescript-sdk-tck", serviceVersion: "0.1.0" });
