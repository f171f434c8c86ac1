export { openStateStore, sqliteFileOf, type OpenStateStoreOptions } from "./open.js";
export { GroupCommitter, type CommitBatch, type Queued, type Write } from "./group-commit.js";
export * from "./types.js";
export { recoverStoredWork, type StoreRecovery } from "./recovery.js";
