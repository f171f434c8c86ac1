/**
 * Shared test fixtures for the policy engine: an engine on a manual clock with an in-memory store and agent
 * directory, an event recorder, and compact policy builders.
 */
import { ManualClock } from "../../src/core/clock.js";
import { resolveConfig, type RuntimeConfigInput } from "../../src/core/config/index.js";
import { RuntimeEvents, type RuntimeEvent } from "../../src/core/events.js";
import type { AgentId } from "../../src/core/ids.js";
import { silentLogger } from "../../src/core/logger.js";
import { parseAgentConfig, type AgentConfigInput } from "../../src/core/schemas.js";
import type { AgentConfig, Policy, PolicyRule } from "../../src/core/types.js";
import { createPolicyEngine, type DefaultPolicyEngine } from "../../src/policy/engine.js";
import type { EvalInput } from "../../src/policy/input.js";
import { MemoryPolicyStore } from "../../src/policy/memory-policy-store.js";
import type { PolicyStore } from "../../src/policy/types.js";

export function agent(overrides: Omit<Partial<AgentConfigInput>, "policies"> & { policies?: readonly Policy[] } = {}): AgentConfig {
  return parseAgentConfig({ name: "agent", ...overrides });
}

export function rules(id: string, list: PolicyRule[], extra: Partial<Policy> = {}): Policy {
  return { id, name: id, description: "", priority: 0, enabled: true, rules: list, ...extra };
}

export function cedarPolicy(id: string, text: string, extra: Partial<Policy> = {}): Policy {
  return { id, name: id, description: "", priority: 0, enabled: true, rules: [], cedar: text, ...extra };
}

export interface EngineHarness {
  engine: DefaultPolicyEngine;
  clock: ManualClock;
  events: RuntimeEvents;
  seen: RuntimeEvent[];
  agents: Map<AgentId, AgentConfig>;
  store: PolicyStore;
}

export async function makeEngine(policy: RuntimeConfigInput["policy"] = {}, store: PolicyStore = new MemoryPolicyStore()): Promise<EngineHarness> {
  const clock = new ManualClock(Date.UTC(2025, 0, 6, 12, 0, 0)); // a Monday, 12:00 UTC
  const logger = silentLogger();
  const events = new RuntimeEvents(clock, logger);
  const seen: RuntimeEvent[] = [];
  events.onAny((e) => seen.push(e));
  const agents = new Map<AgentId, AgentConfig>();
  const engine = await createPolicyEngine({
    config: resolveConfig({ policy }).policy,
    clock,
    events,
    logger,
    store,
    agents: { getAgentConfig: async (id) => agents.get(id) },
  });
  return { engine, clock, events, seen, agents, store };
}

export function input(overrides: Partial<EvalInput> = {}): EvalInput {
  return {
    action: "message.send",
    resource: null,
    agentId: "a-1",
    agentName: "worker",
    tier: 1,
    capabilities: ["FileSystem"],
    metadata: { team: "ops" },
    resources: { memory_mb: 512, cpu_cores: 1, disk_io_mbps: 50, network_io_mbps: 10, execution_timeout: 60_000, idle_timeout: 1000 },
    isolation: "High",
    context: {},
    now: Date.UTC(2025, 0, 6, 12, 30, 0),
    ...overrides,
  };
}
