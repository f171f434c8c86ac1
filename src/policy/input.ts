/**
 * What one decision is about, flattened once per request so that compiled conditions read fields directly
 * (no parsing, no lookups by name at evaluation time).
 */
import { capabilityName, SECURITY_TIER_RANK, type AgentConfig, type ResourceLimits, type SecurityTier } from "../core/types.js";

export interface EvalInput {
  readonly action: string;
  /** The topic, path, command or recipient the action applies to. */
  readonly resource: string | null;
  readonly agentId: string | null;
  readonly agentName: string | null;
  /** Rank of the agent's security tier (Tier0 = 0 … Tier3 = 3), null when unknown. */
  readonly tier: number | null;
  readonly capabilities: readonly string[];
  readonly metadata: Readonly<Record<string, string>>;
  /** The resource requirements in question (requested limits), null when none. */
  readonly resources: Readonly<Record<string, number>> | null;
  readonly isolation: string | null;
  /** Whatever else the enforcement point passed (`network`, `mounts`, `previous_tier`, ...). */
  readonly context: Readonly<Record<string, unknown>>;
  /** Epoch ms at decision time. */
  readonly now: number;
  /**
   * The agent fields this input was built from. Rule sets keep rules specialised for them, and use those only
   * while the input's own fields are still these very values.
   */
  readonly agent?: AgentFields;
}

/** The part of an input that comes from an agent's configuration. */
export type AgentFields = Pick<EvalInput, "agentName" | "tier" | "capabilities" | "metadata" | "resources">;

const NO_AGENT: AgentFields = Object.freeze({ agentName: null, tier: null, capabilities: Object.freeze([]), metadata: Object.freeze({}), resources: null });

export function tierRank(tier: unknown): number | null {
  return typeof tier === "string" && tier in SECURITY_TIER_RANK ? SECURITY_TIER_RANK[tier as SecurityTier] : null;
}

export function limitsRecord(limits: ResourceLimits | undefined): Readonly<Record<string, number>> | null {
  return limits ? (limits as unknown as Record<string, number>) : null;
}

/** The agent's fields; one shared value for requests without an agent. */
export function agentFields(config: AgentConfig | undefined): AgentFields {
  if (!config) return NO_AGENT;
  return {
    agentName: config.name,
    tier: SECURITY_TIER_RANK[config.security_tier],
    capabilities: config.capabilities.map(capabilityName),
    metadata: config.metadata,
    resources: limitsRecord(config.resource_limits),
  };
}
