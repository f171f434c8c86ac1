/**
 * Workflows: named DAGs of steps, each a task for one agent. The engine resolves each step's agent (by id,
 * name or capability), maps inputs from the call's `parameters` and earlier steps' outputs, and runs the
 * steps through a `TaskRunner` with a per-step timeout and retries.
 *
 * `TaskRunner` is the seam to whatever actually runs a task for an agent (the scheduler and executor in the
 * assembled runtime, `InProcessTaskRunner` for handler functions). The runner owns no workflow state; the
 * engine owns executions and aborts a step's signal on timeout or cancellation.
 */
import type { AgentId } from "../core/ids.js";
import type { WorkflowDefinition } from "./schema.js";

export type { WorkflowDefinition, WorkflowStep, StepAgentSelector } from "./schema.js";

/** One task for one agent, as the engine hands it to a runner. */
export interface TaskRequest {
  readonly agent_id: AgentId;
  readonly input: unknown;
  /** The engine enforces this too; a runner should stop work when `signal` aborts. */
  readonly timeout_ms: number;
  readonly signal: AbortSignal;
  /** Where the task comes from, for logs and history. */
  readonly origin?: { readonly workflow_id: string; readonly execution_id: string; readonly step_id: string; readonly attempt: number };
}

export interface TaskRunner {
  /** Runs the task and resolves with its output (any JSON value) or rejects with a RuntimeError. */
  run(request: TaskRequest): Promise<unknown>;
  /** Tasks currently running for the agent (shown as `active_tasks`). */
  activeTasks(agentId: AgentId): number;
}

export type ExecutionStatus = "running" | "success" | "failure";
export type StepStatus = "pending" | "running" | "succeeded" | "failed" | "skipped";

export interface StepError {
  readonly code: string;
  readonly message: string;
}

export interface StepRecord {
  readonly step_id: string;
  readonly agent_id: AgentId;
  status: StepStatus;
  attempts: number;
  started_at: number | null;
  finished_at: number | null;
  output?: unknown;
  error?: StepError;
}

/** One run of a workflow, polled through `GET /workflows/executions/{id}`. */
export interface WorkflowExecution {
  readonly execution_id: string;
  readonly workflow_id: string;
  readonly status: ExecutionStatus;
  readonly started_at: number;
  readonly finished_at: number | null;
  /** Present once finished: the workflow's output on success, `{error, steps}` on failure. */
  readonly output: unknown;
  readonly steps: readonly StepRecord[];
}

/** Where the engine looks agents up. The lifecycle controller satisfies it. */
export interface AgentDirectory {
  listAgents(): Promise<readonly { id: AgentId; state: string; config: { name: string; capabilities: readonly unknown[] } }[]>;
}

export interface ExecuteOptions {
  /** Default agent for steps that name none (the spec's `agent_id`). */
  readonly agent_id?: AgentId;
  /** Refuses (AGENT_SCOPE_DENIED) a step whose resolved agent is outside the caller's scope. */
  readonly allowAgent?: (agentId: AgentId) => boolean;
}

export type { WorkflowDefinition as Workflow };
