import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { dirname, join } from "node:path";
import { it } from "node:test";
import { fileURLToPath } from "node:url";
import { type AnyValue, LOCAL_WRITER, type Store } from "./types.js";

/** A durable store that a child process can open by name, and the parent afterwards. */
export interface DurableTarget {
  /** What `kill-writer.fixture.ts` opens: `sqlite:<file>` or `postgres://…`. */
  readonly target: string;
  /** Opens the same store in this process. */
  open(): Promise<Store>;
  /** Removes what the store left behind. */
  cleanup(): Promise<void>;
}

const here = dirname(fileURLToPath(import.meta.url));
const text = (value: Uint8Array | undefined) => (value === undefined ? undefined : new TextDecoder().decode(value));

/**
 * The kill -9 case of the store contract, for durable stores: a child process writes
 * from 16 concurrent writers (`kill-writer.fixture.ts`), printing each write once its
 * promise resolved; it is SIGKILLed mid-stream, and every printed write must be in the
 * store when opened again (topic messages at the offsets their publish answered),
 * journals gap-free and snapshots written with their events.
 */
export function killContractCase(makeTarget: () => Promise<DurableTarget>): void {
  it("keeps every acknowledged write when the writing process is killed with SIGKILL", { timeout: 60_000 }, async () => {
    const durable = await makeTarget();
    try {
      const child = spawn(process.execPath, ["--import", "tsx", join(here, "kill-writer.fixture.ts"), durable.target], {
        cwd: here,
        stdio: ["ignore", "pipe", "pipe"],
      });
      const acknowledged: string[] = [];
      let stderr = "";
      let pending = "";
      let killed = false;
      child.stderr.setEncoding("utf8");
      child.stderr.on("data", (chunk: string) => {
        stderr += chunk;
      });
      child.stdout.setEncoding("utf8");
      child.stdout.on("data", (chunk: string) => {
        pending += chunk;
        // Only complete lines count: a torn last line was never fully acknowledged.
        for (let nl = pending.indexOf("\n"); nl >= 0; nl = pending.indexOf("\n")) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          if (line !== "ready") acknowledged.push(line);
        }
        if (!killed && acknowledged.length >= 300) {
          killed = true;
          child.kill("SIGKILL");
        }
      });
      const [code, signal] = (await once(child, "close")) as [number | null, NodeJS.Signals | null];
      assert.equal(signal, "SIGKILL", `writer exited with code ${code}: ${stderr}`);
      assert.ok(acknowledged.length >= 300);

      const store = await durable.open();
      try {
        // Every change recorded with its value write, at gap-free positions.
        const changes = await store.valueChanges("kill", 0, 100_000);
        for (const [i, change] of changes.entries()) assert.equal(change.position, i + 1, "change positions are gap-free");
        const changed = new Set(changes.map((change) => `${change.entityId}=${text(change.value?.value)}`));
        // …and no change without its value (each entity is written once).
        for (const change of changes) {
          assert.equal(
            text((await store.getValue("kill", change.entityId))?.value),
            text(change.value?.value),
            `change of ${change.entityId} without its value`,
          );
        }
        const highestAcked = new Map<string, number>();
        for (const line of acknowledged) {
          const [kind, w, n] = line.split(" ");
          if (kind === "j") {
            highestAcked.set(`kill|w${w}`, Math.max(highestAcked.get(`kill|w${w}`) ?? 0, Number(n)));
          } else if (kind === "t") {
            const offset = Number(line.split(" ")[3]);
            const [message] = (await store.topics?.readTopic(`kill-w${w}`, offset - 1, 1)) ?? [];
            assert.equal(message?.offset, offset, `lost ${line}`);
            assert.equal(text(message?.payload.value), `w${w}:message:${n}`, `lost ${line}`);
          } else {
            assert.equal(kind, "v", line);
            assert.equal(text((await store.getValue("kill", `w${w}-${n}`))?.value), `w${w}:value:${n}`, `lost ${line}`);
            assert.ok(changed.has(`w${w}-${n}=w${w}:value:${n}`), `change of ${line} not recorded`);
          }
        }
        for (const [journalId, acked] of highestAcked) {
          const w = journalId.slice("kill|w".length);
          const events = await store.readEvents(journalId, 0);
          assert.ok(events.length >= acked, `${journalId}: ${events.length} events stored, ${acked} acknowledged`);
          events.forEach((e, i) => {
            assert.equal(e.seq, i + 1);
            assert.equal(text(e.payload.value), `w${w}:${i + 1}`);
          });
          // The snapshot was written atomically with its event.
          const snapshot = await store.loadSnapshot(journalId);
          if (acked >= 3) {
            assert.ok(snapshot !== undefined && snapshot.seq >= acked - (acked % 3) && snapshot.seq <= events.length);
            assert.equal(text(snapshot.payload.value), `w${w}:snap:${snapshot.seq}`);
          }
        }
      } finally {
        await store.close();
      }
    } finally {
      await durable.cleanup();
    }
  });
}

/** The reopen case of the store contract, for durable stores: everything written is there after close and open again. */
export function reopenContractCase(makeTarget: () => Promise<DurableTarget>): void {
  it("keeps everything across close and reopen", async () => {
    const durable = await makeTarget();
    const any = (typeUrl: string, value: string): AnyValue => ({ typeUrl, value: new TextEncoder().encode(value) });
    try {
      const first = await durable.open();
      await first.writeValue({ kind: "update", persistenceId: "p", entityId: "e", value: any("t/V", "v"), writer: LOCAL_WRITER });
      await first.append({
        journalId: "p|e",
        tag: "p",
        firstSeq: 1,
        events: [any("t/E", "e1"), any("t/E", "e2")],
        snapshot: any("t/S", "s2"),
        writer: LOCAL_WRITER,
      });
      await first.putCrdt("p", "e", new TextEncoder().encode("crdt"));
      await first.saveOffset("consumer", 2);
      await first.close();

      const second = await durable.open();
      try {
        assert.equal(text((await second.getValue("p", "e"))?.value), "v");
        assert.equal(await second.highestSeq("p|e"), 2);
        assert.deepEqual(
          (await second.readEvents("p|e", 0)).map((e) => text(e.payload.value)),
          ["e1", "e2"],
        );
        const snapshot = await second.loadSnapshot("p|e");
        assert.equal(snapshot?.seq, 2);
        assert.equal(text(snapshot?.payload.value), "s2");
        const tagged = await second.eventsByTag("p", 0, 10);
        assert.deepEqual(
          tagged.map((e) => [e.journalId, e.seq]),
          [
            ["p|e", 1],
            ["p|e", 2],
          ],
        );
        assert.equal(text(await second.getCrdt("p", "e")), "crdt");
        assert.equal(await second.loadOffset("consumer"), 2);
        // Offsets keep growing after a reopen.
        await second.append({ journalId: "p|e", tag: "p", firstSeq: 3, events: [any("t/E", "e3")], writer: LOCAL_WRITER });
        const [third] = await second.eventsByTag("p", tagged[1]?.offset ?? 0, 10);
        assert.ok(third !== undefined && third.offset > (tagged[1]?.offset ?? 0));
      } finally {
        await second.close();
      }
    } finally {
      await durable.cleanup();
    }
  });
}
