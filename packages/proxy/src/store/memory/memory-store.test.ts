import { runStoreContract } from "../contract.case.js";
import { createMemoryStore } from "./memory-store.js";

runStoreContract("memory", async () => {
  const store = createMemoryStore();
  return { store, cleanup: () => store.close() };
});
