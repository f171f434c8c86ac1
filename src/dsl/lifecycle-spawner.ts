/**
 * `spawn_agent(name, config)` over the lifecycle controller: the config (AgentConfig fields) is validated
 * like any other, then the agent is created, initialized and started. Resolves to `{agent_id, name, state}`.
 */
import type { AgentId } from "../core/ids.js";
import { parseAgentConfig } from "../core/schemas.js";
import type { LifecycleController } from "../lifecycle/types.js";
import type { DslSpawner } from "./host.js";

export function lifecycleSpawner(lifecycle: LifecycleController): DslSpawner {
  return {
    async spawn(from: AgentId, name: string, config: unknown) {
      const fields = typeof config === "object" && config !== null && !Array.isArray(config) ? config : {};
      const parsed = parseAgentConfig({ ...fields, name, metadata: { ...((fields as { metadata?: object }).metadata ?? {}), spawned_by: from } });
      const instance = await lifecycle.createAgent(parsed);
      await lifecycle.initializeAgent(instance.id);
      await lifecycle.startAgent(instance.id);
      return { agent_id: instance.id, name: parsed.name, state: await lifecycle.getAgentState(instance.id) };
    },
  };
}
