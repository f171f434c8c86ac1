/**
 * Runtime events the agent executor emits.
 */
import type { AgentId, SandboxId } from "../core/ids.js";

declare module "../core/events.js" {
  interface RuntimeEventMap {
    "agent.process_started": { agent_id: AgentId; sandbox_id: SandboxId };
    "agent.process_exited": { agent_id: AgentId; exit_code: number; signal?: string; timed_out: boolean; oom_killed: boolean };
    "agent.protocol_error": { agent_id: AgentId; reason: string; malformed: number };
    "agent.send_failed": { agent_id: AgentId; to: string; topic: string; code: string };
  }
}

export {};
