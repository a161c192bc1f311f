/**
 * Issue #4 (stub): CRDT benchmarks, not built yet. To fill in:
 *
 * - PNCounter increments/s and p99 with the run's concurrency (64) on one hot key and
 *   over 1,000 keys: start a CRDT user function in its own process (the raw-protocol
 *   fixture test/crdt/support/crdt-user-function.ts, whose entity id prefix picks the
 *   CRDT type — `PNCounter-<n>` — or an SDK example once there is one), a proxy on
 *   SQLite via `startSwitchboard`-like code, and drive
 *   `cloudstate.tck.model.crdt.CrdtTckModel/Process` with a `pncounter` update through
 *   `closedLoop`, as value-entity.ts does;
 * - streamed fan-out latency to 1,000 watchers: open 1,000 `ProcessStreamed` calls on
 *   one entity with GrpcClient (a server-streaming variant of `call`), then time from
 *   one update to each watcher's message.
 *
 * Until then it reports "not run" with the reason.
 */
import type { BenchContext, Scenario, ScenarioResult } from "./types.js";

const REASON = "CRDT benchmarks are not written yet (issue #4 is being built in parallel; see bench/scenarios/crdt.ts for the plan)";

export const crdtScenario: Scenario = {
  id: "crdt",
  title: "CRDTs: PNCounter increments and streamed fan-out",
  issue: 4,
  async run(_ctx: BenchContext): Promise<ScenarioResult> {
    return {
      id: this.id,
      title: this.title,
      checks: [
        {
          name: "PNCounter increments/s and p99, 64 concurrent, one hot key and 1,000 keys",
          measured: "–",
          comparison: "–",
          ratio: "–",
          target: "–",
          status: "not run",
          note: REASON,
        },
        {
          name: "Streamed-message fan-out latency to 1,000 watchers",
          measured: "–",
          comparison: "–",
          ratio: "–",
          target: "–",
          status: "not run",
          note: REASON,
        },
      ],
      body: `Not run: ${REASON}.`,
      points: [],
      data: {},
    };
  },
};
