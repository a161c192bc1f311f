import { valueChangeCases } from "../topics/value-changes.cases.js";
import { startPostgres } from "./pg-server.js";

// fsync stays on: the SIGKILL case is about acknowledged changes being on disk.
valueChangeCases("PostgreSQL", async () => {
  const server = await startPostgres({ fsync: true });
  return { store: server.url, cleanup: () => server.stop() };
});
