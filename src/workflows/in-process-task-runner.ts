/**
 * A TaskRunner for agents whose work is a function in this process (embedding, tests, tools written in
 * TypeScript): `register(agentId, handler)`, then tasks for that agent call the handler with the task's input
 * and an AbortSignal. The agent must exist in the directory; a task for an agent with no handler fails with
 * TASK_HANDLER_MISSING.
 */
import { ApiError, LifecycleError } from "../core/errors.js";
import type { AgentId } from "../core/ids.js";
import type { AgentDirectory, TaskRequest, TaskRunner } from "./types.js";

export interface TaskContext {
  readonly agent_id: AgentId;
  readonly signal: AbortSignal;
  readonly origin: TaskRequest["origin"];
}

export type TaskHandler = (input: unknown, ctx: TaskContext) => Promise<unknown> | unknown;

export class InProcessTaskRunner implements TaskRunner {
  readonly #handlers = new Map<AgentId, TaskHandler>();
  readonly #active = new Map<AgentId, number>();
  readonly #agents: AgentDirectory;

  readonly #fallback: TaskRunner | undefined;

  /** `fallback` runs the tasks of agents with no registered handler (the runtime passes the scheduler). */
  constructor(agents: AgentDirectory, fallback?: TaskRunner) {
    this.#agents = agents;
    this.#fallback = fallback;
  }

  register(agentId: AgentId, handler: TaskHandler): () => void {
    this.#handlers.set(agentId, handler);
    return () => {
      if (this.#handlers.get(agentId) === handler) this.#handlers.delete(agentId);
    };
  }

  activeTasks(agentId: AgentId): number {
    return (this.#active.get(agentId) ?? 0) + (this.#fallback?.activeTasks(agentId) ?? 0);
  }

  async run(request: TaskRequest): Promise<unknown> {
    const { agent_id } = request;
    if (!(await this.#agents.listAgents()).some((a) => a.id === agent_id)) throw LifecycleError.agentNotFound(agent_id);
    const handler = this.#handlers.get(agent_id);
    if (!handler && this.#fallback) return this.#fallback.run(request);
    if (!handler) {
      throw new ApiError("TASK_HANDLER_MISSING", `No in-process task handler is registered for agent ${agent_id}`, { details: { agent_id } });
    }
    request.signal.throwIfAborted();
    this.#active.set(agent_id, (this.#active.get(agent_id) ?? 0) + 1);
    try {
      return await handler(request.input, { agent_id, signal: request.signal, origin: request.origin });
    } finally {
      const n = (this.#active.get(agent_id) ?? 0) - 1;
      if (n > 0) this.#active.set(agent_id, n);
      else this.#active.delete(agent_id);
    }
  }
}
