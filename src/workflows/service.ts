/**
 * WorkflowService: the registry plus executions. `start` validates the call (workflow exists, required
 * parameters present, every step's agent resolvable and in the caller's scope) before anything runs, then
 * runs the plan in the background; `wait` and `get` follow it. Finished executions are kept up to
 * `retained_executions`. `shutdown` cancels what is running.
 */
import { randomUUID } from "node:crypto";
import type { Clock } from "../core/clock.js";
import type { WorkflowsConfig } from "../core/config/index.js";
import { ApiError, RuntimeError, ValidationError } from "../core/errors.js";
import type { EventStream } from "../core/events.js";
import type { AgentId } from "../core/ids.js";
import type { Logger } from "../core/logger.js";
import { runPlan } from "./engine.js";
import type { WorkflowRegistry } from "./registry.js";
import { resolveAgents } from "./resolve.js";
import type { AgentDirectory, ExecuteOptions, StepRecord, TaskRunner, WorkflowExecution } from "./types.js";

declare module "../core/events.js" {
  interface RuntimeEventMap {
    "workflow.started": { workflow_id: string; execution_id: string };
    "workflow.step_finished": { workflow_id: string; execution_id: string; step_id: string; agent_id: AgentId; status: string; attempts: number };
    "workflow.finished": { workflow_id: string; execution_id: string; result: "success" | "failure"; duration_ms: number };
  }
}

export interface WorkflowServiceDeps {
  readonly config: WorkflowsConfig;
  readonly registry: WorkflowRegistry;
  readonly runner: TaskRunner;
  readonly agents: AgentDirectory;
  readonly clock: Clock;
  readonly events: EventStream;
  readonly logger: Logger;
}

interface Execution {
  record: WorkflowExecution;
  readonly done: Promise<WorkflowExecution>;
  readonly abort: AbortController;
}

export class WorkflowService {
  readonly registry: WorkflowRegistry;
  readonly runner: TaskRunner;
  readonly #deps: WorkflowServiceDeps;
  readonly #executions = new Map<string, Execution>();
  #running = 0;
  #closed = false;

  constructor(deps: WorkflowServiceDeps) {
    this.#deps = deps;
    this.registry = deps.registry;
    this.runner = deps.runner;
  }

  /** Starts an execution; rejects before running anything when the call cannot succeed. */
  async start(workflowId: string, parameters: unknown, options: ExecuteOptions = {}): Promise<WorkflowExecution> {
    if (this.#closed) throw new RuntimeError("RUNTIME_SHUT_DOWN", "The workflow service has been shut down");
    const plan = this.registry.get(workflowId);
    const params = parameters ?? {};
    const missing = plan.definition.required_parameters.filter(
      (p) => !(params && typeof params === "object" && Object.prototype.hasOwnProperty.call(params, p)),
    );
    if (missing.length) {
      throw new ValidationError("workflow parameters", missing.map((p) => ({ path: `parameters.${p}`, message: "required by the workflow" })));
    }
    const agents = await resolveAgents(plan.definition.steps, this.#deps.agents, this.runner, options.agent_id);
    if (options.allowAgent) {
      for (const [step, agent] of agents) {
        if (!options.allowAgent(agent)) {
          throw new ApiError("AGENT_SCOPE_DENIED", `Step "${step}" resolves to agent ${agent}, outside this key's scope`, {
            details: { step_id: step, agent_id: agent },
          });
        }
      }
    }
    if (this.#running >= this.#deps.config.max_concurrent_executions) {
      throw new RuntimeError("QUEUE_FULL", `${this.#running} workflow executions are running (max_concurrent_executions)`, {
        details: { max_concurrent_executions: this.#deps.config.max_concurrent_executions },
      });
    }
    const { clock, events, logger } = this.#deps;
    const execution_id = randomUUID();
    const steps = new Map<string, StepRecord>(
      plan.order.map((id) => [id, { step_id: id, agent_id: agents.get(id) as AgentId, status: "pending", attempts: 0, started_at: null, finished_at: null }]),
    );
    const abort = new AbortController();
    const startedAt = clock.now();
    const startedMono = clock.monotonic();
    const record = (status: WorkflowExecution["status"], output: unknown, finished: number | null): WorkflowExecution => ({
      execution_id,
      workflow_id: workflowId,
      status,
      started_at: startedAt,
      finished_at: finished,
      output,
      steps: [...steps.values()],
    });
    this.#running++;
    events.emit("workflow.started", { workflow_id: workflowId, execution_id });
    const done = runPlan(
      {
        execution_id,
        plan,
        parameters: params,
        agents,
        steps,
        signal: abort.signal,
        clock,
        runner: this.runner,
        logger: logger.child({ workflow_id: workflowId, execution_id }),
        defaultTimeout: this.#deps.config.default_step_timeout,
        onStep: (s) => {
          if (s.status === "succeeded" || s.status === "failed") {
            events.emit("workflow.step_finished", { workflow_id: workflowId, execution_id, step_id: s.step_id, agent_id: s.agent_id, status: s.status, attempts: s.attempts });
          }
        },
      },
      abort,
    ).then((outcome) => {
      this.#running--;
      const outputs = Object.fromEntries([...steps.values()].filter((s) => s.status === "succeeded").map((s) => [s.step_id, s.output]));
      const final = outcome.ok ? record("success", outcome.output, clock.now()) : record("failure", { error: outcome.error, steps: outputs }, clock.now());
      exec.record = final;
      events.emit("workflow.finished", { workflow_id: workflowId, execution_id, result: final.status === "success" ? "success" : "failure", duration_ms: clock.monotonic() - startedMono });
      this.#trim();
      return final;
    });
    const exec: Execution = { record: record("running", null, null), done, abort };
    this.#executions.set(execution_id, exec);
    return exec.record;
  }

  /** Resolves when the execution finishes. */
  async wait(executionId: string): Promise<WorkflowExecution> {
    return this.#get(executionId).done;
  }

  /** The execution as it is now (steps' progress included while it runs). */
  get(executionId: string): WorkflowExecution {
    const exec = this.#get(executionId);
    return exec.record.status === "running" ? { ...exec.record, steps: exec.record.steps.map((s) => ({ ...s })) } : exec.record;
  }

  /** Executions started and still running. */
  get running(): number {
    return this.#running;
  }

  async shutdown(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const pending = [...this.#executions.values()].filter((e) => e.record.status === "running");
    for (const e of pending) e.abort.abort(new ApiError("WORKFLOW_CANCELLED", "The runtime is shutting down"));
    await Promise.all(pending.map((e) => e.done));
  }

  #get(executionId: string): Execution {
    const exec = this.#executions.get(executionId);
    if (!exec) {
      throw new ApiError("WORKFLOW_EXECUTION_NOT_FOUND", `Workflow execution ${executionId} not found`, { details: { execution_id: executionId } });
    }
    return exec;
  }

  #trim(): void {
    let finished = [...this.#executions.values()].filter((e) => e.record.status !== "running").length;
    for (const [id, e] of this.#executions) {
      if (finished <= this.#deps.config.retained_executions) break;
      if (e.record.status !== "running") {
        this.#executions.delete(id);
        finished--;
      }
    }
  }
}
