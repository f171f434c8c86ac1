/**
 * validateAgentConfig's checks. Each check adds its violations; nothing stops at the first one, so the caller
 * sees everything wrong with a configuration at once.
 */
import type { PolicyConfig } from "../core/config/index.js";
import { isRuntimeError } from "../core/errors.js";
import { capabilityName, type AgentConfig, type ResourceLimits } from "../core/types.js";
import type { EvalInput } from "./input.js";
import type { PolicyViolation } from "./types.js";

export interface ConfigDecision {
  readonly allowed: boolean;
  readonly policy_id: string;
  readonly reason?: string;
}

export interface ValidateConfigDeps {
  readonly config: PolicyConfig;
  /** Full decision for one synthetic request about the agent (policies plus defaults). */
  readonly decide: (input: EvalInput) => ConfigDecision;
  /** Compiles the agent's own policies; throws POLICY_INVALID. */
  readonly compileOwn: (policy: AgentConfig["policies"][number]) => void;
  readonly baseInput: (config: AgentConfig) => EvalInput;
}

export function validateConfig(agent: AgentConfig, deps: ValidateConfigDeps): PolicyViolation[] {
  const out: PolicyViolation[] = [];
  agent.policies.forEach((p, i) => {
    try {
      deps.compileOwn(p);
    } catch (err) {
      if (!isRuntimeError(err)) throw err;
      out.push({ kind: "policy_invalid", field: `policies[${i}]`, policy_id: p.id, message: err.message });
    }
  });

  const base = deps.baseInput(agent);
  const create = deps.decide({ ...base, action: "agent.create", resource: agent.name });
  if (!create.allowed) out.push({ kind: "denied", field: "(agent)", policy_id: create.policy_id, message: `agent.create: ${create.reason ?? "denied"}` });

  agent.capabilities.forEach((c, i) => {
    const name = capabilityName(c);
    const d = deps.decide({ ...base, action: "capability.use", resource: name });
    if (!d.allowed) {
      out.push({ kind: "capability", field: `capabilities[${i}]`, policy_id: d.policy_id, message: `capability ${name}: ${d.reason ?? "denied"}` });
    }
  });

  const max = deps.config.max_limits;
  for (const key of Object.keys(max) as (keyof ResourceLimits)[]) {
    const limit = max[key];
    if (limit !== undefined && agent.resource_limits[key] > limit) {
      out.push({ kind: "limit", field: `resource_limits.${key}`, message: `${key} ${agent.resource_limits[key]} exceeds the policy maximum ${limit}` });
    }
  }

  for (const key of deps.config.required_metadata) {
    if (!Object.hasOwn(agent.metadata, key)) out.push({ kind: "metadata", field: `metadata.${key}`, message: `metadata key ${key} is required` });
  }
  for (const [key, pattern] of Object.entries(deps.config.metadata_patterns)) {
    const value = agent.metadata[key];
    if (value !== undefined && !new RegExp(pattern).test(value)) {
      out.push({ kind: "metadata", field: `metadata.${key}`, message: `metadata ${key}=${JSON.stringify(value)} does not match /${pattern}/` });
    }
  }
  return out;
}
