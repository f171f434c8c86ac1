/**
 * The PolicyEngine contract (the spec's six methods), its data types and the PolicyStore that persists
 * policies. The engine is also the runtime's `Authorizer`: every enforcement point's `authorize(...)` call
 * ends in `check`. The engine owns no connection; its store owns its database connection and closes it.
 */
import type { Authorizer } from "../core/authorizer.js";
import type { AgentId } from "../core/ids.js";
import type { AgentConfig, Policy, PolicyRule, ResourceLimits, SecurityContext } from "../core/types.js";

export type { Policy, PolicyRule } from "../core/types.js";

/** The spec's PolicyContext, plus the optional resource the operation applies to. */
export interface PolicyContext {
  readonly agent_id: AgentId;
  readonly operation: string;
  /** A topic, path, command or recipient. */
  readonly resource?: string;
  readonly resource_requirements?: ResourceLimits;
  readonly security_context?: Pick<SecurityContext, "tier"> & Partial<Omit<SecurityContext, "tier">>;
  readonly metadata?: Readonly<Record<string, string>>;
}

/** One rule (or Cedar statement) that matched a request. */
export interface MatchedRule {
  readonly policy_id: string;
  /** Index in `rules`, or the Cedar statement's index. */
  readonly rule_index: number;
  readonly effect: PolicyRule["effect"] | "permit" | "forbid";
  readonly action: string;
  readonly condition?: string;
  readonly description?: string;
}

/**
 * The outcome of evaluating policies against one request. `not_applicable` means no rule spoke, in which case
 * `allowed` holds the default (closed for security-sensitive operations).
 */
export interface PolicyDecision {
  readonly decision: "allow" | "deny" | "not_applicable";
  readonly allowed: boolean;
  /** The policy that decided: the denying one, else the first allowing one, else `default`. */
  readonly policy_id: string;
  readonly matched_rules: readonly MatchedRule[];
  readonly reasons: readonly string[];
  /** An `audit` rule matched: the decision is recorded (`policy.audited`). */
  readonly audit: boolean;
}

export type ViolationKind = "capability" | "limit" | "metadata" | "policy_invalid" | "denied";

export interface PolicyViolation {
  readonly kind: ViolationKind;
  /** The offending config field: `capabilities[0]`, `resource_limits.memory_mb`, `metadata.owner`. */
  readonly field: string;
  readonly policy_id?: string;
  readonly message: string;
}

export interface PolicyValidationResult {
  readonly valid: boolean;
  /** Every violation, not only the first. */
  readonly violations: readonly PolicyViolation[];
}

export interface PolicyEngine extends Authorizer {
  validateAgentConfig(config: AgentConfig): Promise<PolicyValidationResult>;
  checkOperationAllowed(agentId: AgentId, operation: string, context: PolicyContext): Promise<boolean>;
  /** The enabled runtime-wide policies plus the agent's own, highest priority first. */
  getAgentPolicies(agentId: AgentId): Promise<Policy[]>;
  /** Validates, persists and installs a policy (create or replace). A bad policy leaves the old one in force. */
  updatePolicy(policy: Policy): Promise<void>;
  deletePolicy(policyId: string): Promise<void>;
  /** Evaluates one policy on its own against a context: an installed one, or else one of the agent's own. */
  evaluatePolicy(policyId: string, context: PolicyContext): Promise<PolicyDecision>;
  /** The full decision of every policy that applies to the agent (runtime-wide, its own, then defaults). */
  explain(agentId: AgentId, operation: string, context: PolicyContext): Promise<PolicyDecision>;
  /** Every runtime-wide policy, highest priority first. */
  listPolicies(): Promise<Policy[]>;
  /** An installed policy, or else (given an agent) one of the agent's own; POLICY_NOT_FOUND otherwise. */
  getPolicy(policyId: string, agentId?: AgentId): Promise<Policy>;
  close(): Promise<void>;
}

/** Where the engine finds an agent's configuration (its tier, capabilities and own policies). */
export interface AgentDirectory {
  getAgentConfig(agentId: AgentId): Promise<AgentConfig | undefined>;
}

/**
 * Durable storage of runtime-wide policies. Implementations own their connection; `close()` is idempotent.
 * A write resolves only after it is committed.
 */
export interface PolicyStore {
  load(): Promise<Policy[]>;
  put(policy: Policy): Promise<void>;
  /** True when a policy was removed. */
  delete(policyId: string): Promise<boolean>;
  close(): Promise<void>;
}
