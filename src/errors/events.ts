/**
 * Runtime events the error handler emits.
 */
import type { AgentId, TaskId } from "../core/ids.js";
import type { ErrorActionType, ErrorType } from "./types.js";

declare module "../core/events.js" {
  interface RuntimeEventMap {
    "error.handled": {
      agent_id: AgentId;
      error_type: ErrorType;
      code: string;
      action: ErrorActionType;
      /** False when the action was decided but not carried out (auto recovery off, nothing to retry, it failed). */
      executed: boolean;
      task_id?: TaskId;
      detail?: string;
    };
    "error.escalated": { agent_id: AgentId; errors: number; threshold: number };
    "error.circuit_opened": { agent_id: AgentId; failures: number };
    "error.circuit_half_opened": { agent_id: AgentId };
    "error.circuit_closed": { agent_id: AgentId };
    "error.recovery_failed": { agent_id: AgentId; action: ErrorActionType; code: string; reason: string };
  }
}

export {};
