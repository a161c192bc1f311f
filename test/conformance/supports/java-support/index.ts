/**
 * java-support as published: `io.cloudstate:cloudstate-java-support` 0.5.2 from Maven Central,
 * with the user functions of this folder (a Maven project, built by ../maven.ts): the
 * event-sourced TCK model and the shopping cart. 0.5.2 implements event sourcing and CRDTs
 * only (no value entities, no actions, no eventing).
 */
import { fileURLToPath } from "node:url";
import { mavenBuild } from "../maven.js";
import type { SetupContext, SetupResult, Support } from "../support.js";

const here = fileURLToPath(new URL(".", import.meta.url));
const MAIN = "switchboard.conformance.javasupport.Main";

export const javaSupport: Support = {
  name: "java-support",
  title: "java-support (Maven 0.5.2)",
  areas: ["Discovery", "ES", "Shopping cart"],
  notCovered: "not in java-support 0.5.2",
  knownFailuresFile: fileURLToPath(new URL("./known-failures.txt", import.meta.url)),
  async setup(context: SetupContext): Promise<SetupResult> {
    try {
      const built = mavenBuild({
        name: "java-support",
        project: here,
        root: context.root,
        cacheDir: context.cacheDir,
        protos: ["cloudstate/tck/model/eventsourced.proto", "shoppingcart/shoppingcart.proto", "shoppingcart/persistence/domain.proto"],
        log: context.log,
      });
      return {
        kind: "ready",
        runs: [
          { areas: ["Discovery", "ES"], functionCommand: built.command(MAIN, ["tck-model"]) },
          { areas: ["Shopping cart"], functionCommand: built.command(MAIN, ["shopping-cart"]) },
        ],
        notes: built.notes,
      };
    } catch (error) {
      return { kind: "unobtainable", reason: (error as Error).message.split("\n").join("; ") };
    }
  },
};
