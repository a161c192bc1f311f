/**
 * Kotlin: user functions written in Kotlin against `io.cloudstate:cloudstate-java-support`
 * 0.5.2 from Maven Central (`cloudstate-kotlin-support` was never published there), in the Maven
 * project of this folder (kotlin-maven-plugin; built by ../maven.ts): the event-sourced and CRDT
 * TCK models and the shopping cart.
 */
import { fileURLToPath } from "node:url";
import { jvmSupport } from "../maven.js";

export const kotlinSupport = jvmSupport({
  name: "kotlin",
  title: "kotlin (on java-support Maven 0.5.2)",
  project: fileURLToPath(new URL(".", import.meta.url)),
  mainClass: "switchboard.conformance.kotlin.MainKt",
  knownFailuresFile: fileURLToPath(new URL("./known-failures.txt", import.meta.url)),
});
