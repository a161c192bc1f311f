/**
 * java-support as published: `io.cloudstate:cloudstate-java-support` 0.5.2 from Maven Central,
 * with the user functions of this folder (a Maven project, built by ../maven.ts): the
 * event-sourced and CRDT TCK models and the shopping cart, in Java. 0.5.2 implements event
 * sourcing and CRDTs only (no value entities, actions or eventing); its CRDT wire predates
 * protocol 0.2 and the proxy speaks it (docs/protocol.md#older-protocol-versions).
 */
import { fileURLToPath } from "node:url";
import { jvmSupport } from "../maven.js";

export const javaSupport = jvmSupport({
  name: "java-support",
  title: "java-support (Maven 0.5.2)",
  project: fileURLToPath(new URL(".", import.meta.url)),
  mainClass: "switchboard.conformance.javasupport.Main",
  knownFailuresFile: fileURLToPath(new URL("./known-failures.txt", import.meta.url)),
});
