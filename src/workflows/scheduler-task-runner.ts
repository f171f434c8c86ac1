/**
 * Workflow steps as scheduler tasks: each step is queued for its agent like any other task (priority,
 * concurrency cap, timeout, retries, sandboxed programs or in-process handlers) and its result awaited. An
 * aborted step cancels its task.
 */
import { ERROR_CODES, type ErrorCode } from "../core/error-codes.js";
import { RuntimeError } from "../core/errors.js";
import type { AgentId } from "../core/ids.js";
import type { Scheduler } from "../scheduler/types.js";
import type { TaskRequest, TaskRunner } from "./types.js";

export class SchedulerTaskRunner implements TaskRunner {
  readonly #active = new Map<AgentId, number>();

  constructor(private readonly scheduler: Scheduler) {}

  activeTasks(agentId: AgentId): number {
    return this.#active.get(agentId) ?? 0;
  }

  async run(request: TaskRequest): Promise<unknown> {
    request.signal.throwIfAborted();
    const task = await this.scheduler.scheduleTask({
      agent_id: request.agent_id,
      input: request.input,
      ...(request.timeout_ms > 0 ? { timeout: request.timeout_ms } : {}),
    });
    const cancel = () => void this.scheduler.cancelTask(task.id).catch(() => undefined);
    request.signal.addEventListener("abort", cancel, { once: true });
    this.#active.set(request.agent_id, this.activeTasks(request.agent_id) + 1);
    try {
      const status = await this.scheduler.waitForTask(task.id);
      if (status.state === "Completed") return status.result;
      const error = "error" in status ? status.error : { code: "TASK_CANCELLED", message: "reason" in status ? status.reason : status.state };
      const code: ErrorCode = error.code in ERROR_CODES ? (error.code as ErrorCode) : "AGENT_TASK_FAILED";
      throw new RuntimeError(code, `Task ${task.id} for agent ${request.agent_id} ended ${status.state}: ${error.message}`, {
        details: { task_id: task.id, agent_id: request.agent_id, state: status.state, ...(error.details ?? {}) },
      });
    } finally {
      request.signal.removeEventListener("abort", cancel);
      const n = this.activeTasks(request.agent_id) - 1;
      if (n > 0) this.#active.set(request.agent_id, n);
      else this.#active.delete(request.agent_id);
    }
  }
}
