/**
 * @internal Building blocks for sibling packages (testkit, TCK, bench). Not semver.
 */
export { buildServiceModel, type MethodModel, type ServiceModel } from "./descriptors/service-model.js";
export { extractEntityId } from "./descriptors/entity-key.js";
export { runStoreContract } from "./store/contract.case.js";
export { createMemoryStore } from "./store/memory/memory-store.js";
export { createSqliteStore } from "./store/sqlite/sqlite-store.js";
export type * from "./store/types.js";
export {
  CRDT_HANDLE_BEFORE_0_2,
  type CrdtTranslation,
  createCrdtTranslation,
  speaksCrdtBefore02,
} from "./entities/crdt/wire-before-0.2.js";
