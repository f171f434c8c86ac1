/**
 * Runtime events the scheduler emits.
 */
import type { AgentId, TaskId } from "../core/ids.js";
import type { Priority } from "../core/types.js";
import type { TaskState } from "./types.js";

declare module "../core/events.js" {
  interface RuntimeEventMap {
    "task.scheduled": { task_id: TaskId; agent_id: AgentId; priority: Priority; scheduled_time: number };
    "task.started": { task_id: TaskId; agent_id: AgentId; executor_id: string; attempt: number; wait_ms: number };
    "task.finished": {
      task_id: TaskId;
      agent_id: AgentId;
      state: Exclude<TaskState, "Pending" | "Running" | "Retrying">;
      attempt: number;
      duration_ms: number;
      error_code?: string;
    };
    "task.retrying": { task_id: TaskId; agent_id: AgentId; attempt: number; delay_ms: number; error_code: string };
    "task.reassigned": { task_id: TaskId; agent_id: AgentId; from: AgentId };
    "scheduler.paused": Record<string, never>;
    "scheduler.resumed": Record<string, never>;
    "scheduler.executor_unhealthy": { executor_id: string; reason: string };
    "scheduler.executor_recovered": { executor_id: string };
    "schedule.fired": { agent_id: AgentId; task_id: TaskId; due_at: number };
    "schedule.missed": { agent_id: AgentId; missed: number; policy: string; enqueued: number };
  }
}

export {};
