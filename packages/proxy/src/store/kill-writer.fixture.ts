/**
 * Child process of the kill -9 case of the store contract (`durable-contract.case.ts`),
 * run for the SQLite and PostgreSQL stores; not library code. It opens the store named by argv[2] (`sqlite:<file>`, `sqlite-worker:<file>` for
 * SQLite committing on its writer thread, or `postgres://…`) and writes
 * without end from several concurrent writers, printing one line per write only after
 * the write's promise resolved (that is, after its group commit returned):
 *
 *   j <writer> <seq>   journal `kill|w<writer>` holds event <seq> (a snapshot every 3rd)
 *   v <writer> <n>     value entity `kill` / `w<writer>-<n>` holds its payload, and the
 *                      change log of `kill` records it
 *   t <writer> <n> <o> topic `kill-w<writer>` holds message <n> at offset <o>
 *
 * The parent SIGKILLs it mid-stream and checks that every printed write survived.
 */
import { createPostgresStore } from "./postgres/index.js";
import { createSqliteStore } from "./sqlite/sqlite-store.js";
import { LOCAL_WRITER } from "./types.js";

const target = process.argv[2];
if (target === undefined || !(target.startsWith("sqlite:") || target.startsWith("sqlite-worker:") || target.startsWith("postgres://"))) {
  throw new Error("usage: kill-writer.fixture.ts sqlite:<db file> | sqlite-worker:<db file> | postgres://<url>");
}

// Never outlive a parent that died before killing us.
setTimeout(() => process.exit(2), 60_000).unref();
process.stdout.on("error", () => process.exit(3));

const store = target.startsWith("sqlite:")
  ? await createSqliteStore({ path: target.slice("sqlite:".length), commit: "inline" })
  : target.startsWith("sqlite-worker:")
    ? await createSqliteStore({ path: target.slice("sqlite-worker:".length), commit: "worker" })
    : await createPostgresStore({ url: target });
const encoder = new TextEncoder();
process.stdout.write("ready\n");

async function writer(w: number): Promise<never> {
  for (let i = 1; ; i++) {
    await store.append({
      journalId: `kill|w${w}`,
      tag: "kill",
      firstSeq: i,
      events: [{ typeUrl: "type.test/Event", value: encoder.encode(`w${w}:${i}`) }],
      ...(i % 3 === 0 ? { snapshot: { typeUrl: "type.test/Snap", value: encoder.encode(`w${w}:snap:${i}`) } } : {}),
      writer: LOCAL_WRITER,
    });
    process.stdout.write(`j ${w} ${i}\n`);
    await store.writeValue({
      kind: "update",
      persistenceId: "kill",
      entityId: `w${w}-${i}`,
      value: { typeUrl: "type.test/Value", value: encoder.encode(`w${w}:value:${i}`) },
      writer: LOCAL_WRITER,
      recordChange: true,
    });
    process.stdout.write(`v ${w} ${i}\n`);
    const [offset] =
      (await store.topics?.publish(`kill-w${w}`, [
        { payload: { typeUrl: "type.test/Message", value: encoder.encode(`w${w}:message:${i}`) }, attributes: { id: `${i}` } },
      ])) ?? [];
    if (offset !== undefined) process.stdout.write(`t ${w} ${i} ${offset}\n`);
  }
}

await Promise.all(Array.from({ length: 16 }, (_, w) => writer(w)));
