import { durabilityCase } from "../durability.cases.js";
import { startPostgres } from "./pg-server.js";

// fsync stays on here: the point is that acknowledged writes are on disk.
durabilityCase("PostgreSQL", async () => {
  const server = await startPostgres({ fsync: true });
  return { store: server.url, cleanup: () => server.stop() };
});
