// Shared start-up of the node-support user functions: loads npm `cloudstate@0.0.3` from the
// cache that setup.mjs prepared, in the working directory the library expects, and binds
// HOST/PORT (cloudstate 0.0.3 itself ignores both and binds 0.0.0.0:8080).
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { CACHE_DIR, PROTO_ROOTS } from "./setup.mjs";

/**
 * Prepares the process for the user function `name` (a key of USER_FUNCTIONS in setup.mjs)
 * and returns the cloudstate module plus the include directories of this repository's protos.
 *
 * cloudstate 0.0.3 reads `user-function.desc` and `package.json` from the working directory
 * (the latter when the module loads), so the process moves to `.tck/node-support/<name>/`
 * before requiring it.
 */
export function loadCloudstate(name) {
  const workDir = join(CACHE_DIR, name);
  if (!existsSync(join(workDir, "user-function.desc")) || !existsSync(join(CACHE_DIR, "node_modules/cloudstate/package.json"))) {
    console.error(`node-support is not set up (${workDir}/user-function.desc missing): run \`node test/conformance/supports/node-support/setup.mjs\` first`);
    process.exit(1);
  }
  process.chdir(workDir);
  const require = createRequire(join(CACHE_DIR, "package.json"));
  return { cloudstate: require("cloudstate"), includeDirs: PROTO_ROOTS };
}

/** Where to listen: HOST (default 127.0.0.1) and PORT (default 8080) from the environment. */
export function listenOptions() {
  const bindAddress = process.env.HOST || "127.0.0.1";
  const bindPort = process.env.PORT ? Number(process.env.PORT) : 8080;
  if (!Number.isInteger(bindPort) || bindPort < 0 || bindPort > 65535) {
    console.error(`invalid PORT ${JSON.stringify(process.env.PORT)}`);
    process.exit(1);
  }
  return { bindAddress, bindPort };
}

/** Starts `server` (a cloudstate CloudState) on HOST/PORT and stops it on SIGTERM/SIGINT. */
export function serve(server) {
  server.start(listenOptions());
  const stop = () => {
    server.server.forceShutdown();
    process.exit(0);
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}
