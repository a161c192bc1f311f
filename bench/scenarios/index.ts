/** Every scenario, in the order a full run goes through them. */
import { actionScenario } from "./action.js";
import { crdtScenario } from "./crdt.js";
import { eventSourcedScenario } from "./event-sourced.js";
import { jsonScenario } from "./json.js";
import { memoryScenario } from "./memory.js";
import { observabilityScenario } from "./observability.js";
import { restateScenario } from "./restate.js";
import type { Scenario } from "./types.js";
import { valueEntityScenario } from "./value-entity.js";

export const SCENARIOS: readonly Scenario[] = [
  actionScenario,
  valueEntityScenario,
  restateScenario,
  eventSourcedScenario,
  crdtScenario,
  jsonScenario,
  observabilityScenario,
  memoryScenario,
];
