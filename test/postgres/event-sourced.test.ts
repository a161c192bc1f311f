import { after } from "node:test";
import { eventSourcedCases } from "../event-sourced.cases.js";
import { type PostgresServer, startPostgres } from "./pg-server.js";

let server: PostgresServer | undefined;
after(async () => {
  await server?.stop();
});
eventSourcedCases({
  name: "PostgreSQL",
  durable: true,
  async make() {
    server ??= await startPostgres();
    return server.createDatabase();
  },
  async cleanup() {},
});
