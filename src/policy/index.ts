export type {
  AgentDirectory,
  MatchedRule,
  Policy,
  PolicyContext,
  PolicyDecision,
  PolicyEngine,
  PolicyRule,
  PolicyStore,
  PolicyValidationResult,
  PolicyViolation,
  ViolationKind,
} from "./types.js";
export { createPolicyEngine, DefaultPolicyEngine, type PolicyEngineDeps } from "./engine.js";
export { cedarSchema, KNOWN_ACTIONS } from "./cedar.js";
export { MemoryPolicyStore } from "./memory-policy-store.js";
export { openSqlitePolicyStore, SqlitePolicyStore } from "./sqlite-policy-store.js";
export { openPostgresPolicyStore, PostgresPolicyStore, type PostgresPolicyStoreOptions } from "./postgres-policy-store.js";
