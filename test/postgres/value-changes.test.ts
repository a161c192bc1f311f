import pg from "pg";
import { valueChangeCases } from "../topics/value-changes.cases.js";
import { startPostgres } from "./pg-server.js";

// fsync stays on: the SIGKILL case is about acknowledged changes being on disk.
valueChangeCases("PostgreSQL", async () => {
  const server = await startPostgres({ fsync: true });
  return {
    store: server.url,
    async changesKept(persistenceId) {
      const client = new pg.Client({ connectionString: server.url });
      await client.connect();
      try {
        const { rows } = await client.query("SELECT count(*)::int AS n FROM value_change WHERE persistence_id = $1", [persistenceId]);
        return Number(rows[0]?.n);
      } finally {
        await client.end();
      }
    },
    cleanup: () => server.stop(),
  };
});
