/**
 * Picks the agent for each step: by id, by name, or by capability, among live agents. When several match,
 * the one with the fewest active tasks wins (ties: the first created).
 */
import { ApiError } from "../core/errors.js";
import type { AgentId } from "../core/ids.js";
import { capabilityName, type Capability } from "../core/types.js";
import type { StepAgentSelector } from "./schema.js";
import type { AgentDirectory, TaskRunner } from "./types.js";

const UNAVAILABLE = new Set(["Terminating", "Terminated", "Failed", "Completed"]);

/** "gpu" and "Custom(gpu)" both name the custom capability; built-ins by their name. */
export function normalizeCapability(text: string): string {
  return ["FileSystem", "Network", "Database"].includes(text) || /^Custom\(.+\)$/.test(text) ? text : `Custom(${text})`;
}

export async function resolveAgents(
  steps: readonly { id: string; agent?: StepAgentSelector | undefined }[],
  directory: AgentDirectory,
  runner: TaskRunner,
  fallback: AgentId | undefined,
): Promise<Map<string, AgentId>> {
  const agents = (await directory.listAgents()).filter((a) => !UNAVAILABLE.has(a.state));
  const out = new Map<string, AgentId>();
  for (const step of steps) {
    const sel: StepAgentSelector | { id: string } | undefined = step.agent ?? (fallback ? { id: fallback } : undefined);
    if (!sel) {
      throw new ApiError("WORKFLOW_AGENT_UNRESOLVED", `Step "${step.id}" names no agent and the call gave no agent_id`, {
        details: { step_id: step.id },
      });
    }
    let candidates: typeof agents;
    if ("id" in sel) candidates = agents.filter((a) => a.id === sel.id.toLowerCase());
    else if ("name" in sel) candidates = agents.filter((a) => a.config.name === sel.name);
    else {
      const want = normalizeCapability(sel.capability);
      candidates = agents.filter((a) => a.config.capabilities.some((c) => capabilityName(c as Capability) === want));
    }
    if (!candidates.length) {
      throw new ApiError("WORKFLOW_AGENT_UNRESOLVED", `No live agent matches step "${step.id}" (${JSON.stringify(sel)})`, {
        details: { step_id: step.id, selector: sel },
      });
    }
    const best = candidates.reduce((a, b) => (runner.activeTasks(b.id) < runner.activeTasks(a.id) ? b : a));
    out.set(step.id, best.id);
  }
  return out;
}
