/**
 * The echo user function as a process of its own, for the fuzz suite: it decodes the
 * Action payloads that the proxy passes through unchecked, and garbage makes its
 * handlers throw; those are the fixture's failures, kept out of the test runner.
 * Prints its port on stdout.
 */
import { startEchoUserFunction } from "../../http/support/echo-user-function.js";

process.on("unhandledRejection", () => {});
process.on("uncaughtException", () => {});
const uf = await startEchoUserFunction();
process.stdout.write(`${uf.port}\n`);
