/**
 * The Scheduler contract (the spec's ten methods), its data types, and the two seams it runs through: a
 * `TaskRunner` that actually runs a task (the agent executor) and a `TaskFailureSink` that decides what a
 * failure means (the error handler). The scheduler owns its queues and timers; it owns no processes — the
 * runner does, and must settle promptly once a task's signal aborts.
 */
import type { RuntimeError } from "../core/errors.js";
import type { AgentId, TaskId } from "../core/ids.js";
import type { Priority, ResourceUsage } from "../core/types.js";

/** The spec's ScheduledTask plus the task's input payload. */
export interface ScheduledTask {
  readonly id: TaskId;
  readonly agent_id: AgentId;
  readonly priority: Priority;
  /** Epoch ms; the task waits until then. */
  readonly scheduled_time: number;
  /** ms the task may run before it is killed (TimedOut). */
  readonly timeout: number;
  /** Retries already made. */
  readonly retry_count: number;
  /** Handed to the agent as the task's input (JSON). */
  readonly input?: unknown;
}

/** What a caller passes to `scheduleTask`: everything but `agent_id` has a default. */
export interface TaskRequest {
  readonly agent_id: AgentId;
  readonly id?: TaskId;
  readonly priority?: Priority;
  readonly scheduled_time?: number;
  readonly timeout?: number;
  readonly retry_count?: number;
  readonly input?: unknown;
}

export type TaskState = "Pending" | "Running" | "Completed" | "Failed" | "Cancelled" | "TimedOut" | "Retrying";
export const TASK_STATES: readonly TaskState[] = ["Pending", "Running", "Completed", "Failed", "Cancelled", "TimedOut", "Retrying"];

/** An error as a task status carries it: the RuntimeError's code, message and details. */
export interface TaskError {
  readonly code: string;
  readonly message: string;
  readonly details?: Record<string, unknown>;
}

export type TaskStatus =
  | { readonly state: "Pending"; readonly since: number }
  | { readonly state: "Running"; readonly started_at: number; readonly executor_id: string; readonly attempt: number }
  | { readonly state: "Completed"; readonly finished_at: number; readonly result: unknown }
  | { readonly state: "Failed"; readonly finished_at: number; readonly error: TaskError }
  | { readonly state: "Cancelled"; readonly finished_at: number; readonly reason: string }
  | { readonly state: "TimedOut"; readonly finished_at: number; readonly error: TaskError }
  | { readonly state: "Retrying"; readonly retry_at: number; readonly attempt: number; readonly error: TaskError };

export interface RunningTask {
  readonly task: ScheduledTask;
  readonly started_at: number;
  readonly executor_id: string;
  /** 1 for the first run, 2 for the first retry, ... */
  readonly attempt: number;
  /** When the task will be killed, epoch ms. */
  readonly deadline: number;
}

export interface ExecutorMetrics {
  readonly id: string;
  readonly weight: number;
  readonly healthy: boolean;
  readonly active: number;
  readonly capacity: number;
  /** Tasks ever assigned to this slot. */
  readonly assigned: number;
}

export interface SchedulerMetrics {
  readonly pending: number;
  readonly running: number;
  readonly retrying: number;
  readonly completed: number;
  readonly failed: number;
  readonly cancelled: number;
  readonly timed_out: number;
  /** Queue wait of recently started tasks, ms. */
  readonly avg_wait_time: number;
  readonly p95_wait_time: number;
  /** Run time of recently finished tasks, ms. */
  readonly avg_run_time: number;
  readonly p95_run_time: number;
  /** Tasks finished per second over the last minute. */
  readonly throughput: number;
  /** Pending tasks by priority. */
  readonly pending_by_priority: Readonly<Record<Priority, number>>;
  /** Finished tasks by priority. */
  readonly finished_by_priority: Readonly<Record<Priority, number>>;
  readonly paused: boolean;
  readonly executors: readonly ExecutorMetrics[];
}

/** Passed to the runner with every task. */
export interface TaskContext {
  /** Aborts with the TASK_TIMEOUT or TASK_CANCELLED error; the runner kills what it started and settles. */
  readonly signal: AbortSignal;
  /** The same moment as `signal`'s abort, as a plain callback (cheaper; no AbortController is made). */
  onAbort(listener: (reason: RuntimeError) => void): () => void;
  readonly executor_id: string;
  readonly attempt: number;
}

/** Whether a task of an agent can start now: yes, not yet (the agent is suspended, initializing...), or never. */
export type Readiness = "ready" | "wait" | RuntimeError;

/** Runs tasks. Implemented by the agent executor. */
export interface TaskRunner {
  readiness(agentId: AgentId): Readiness;
  /** Runs the task to its output. Must reject promptly (after killing its process) once `ctx.signal` aborts. */
  run(task: ScheduledTask, ctx: TaskContext): Promise<unknown>;
  /** Health probe of one executor slot; false or a rejection takes the slot out of rotation. */
  probe?(executorId: string): Promise<boolean>;
}

/** What the error handler's decision means for the failed task. */
export interface FailureOutcome {
  /** Re-run the task after this many ms. */
  readonly retry_after_ms?: number;
  /** Re-run the task on this agent instead (failover). */
  readonly reassign_to?: AgentId;
}

/** The scheduler's view of the error handler. */
export interface TaskFailureSink {
  /** At enqueue: throws CIRCUIT_OPEN while the agent's breaker is open. */
  assertAccepting(agentId: AgentId): void;
  /** At dispatch: throws CIRCUIT_OPEN while open, and lets one trial task through when half-open. */
  admit(agentId: AgentId): void;
  recordSuccess(agentId: AgentId): void;
  /** Decides (and carries out at agent level) what the failure means; tells the scheduler what to do with the task. */
  handleTaskFailure(task: ScheduledTask, error: RuntimeError, attempt: number): Promise<FailureOutcome>;
}

/** Measured usage of an agent (the resource manager's `getResourceUsage`), for ResourceBased balancing. */
export interface UsageProbe {
  usage(agentId: AgentId): ResourceUsage | undefined;
}

/** The scheduler operations the error handler and the executor use to carry out their decisions. */
export interface TaskControl {
  scheduleTask(request: TaskRequest): Promise<ScheduledTask>;
  /** Moves every pending task of `from` to `to`; returns how many moved. */
  reassignPendingTasks(from: AgentId, to: AgentId): number;
  /** Cancels every pending task of the agent; returns how many. */
  cancelAgentTasks(agentId: AgentId, reason: string): Promise<number>;
}

/** A task the scheduler knows and its status; `order` ranks tasks by acceptance (higher is newer). */
export interface TaskView {
  readonly task: ScheduledTask;
  readonly status: TaskStatus;
  readonly order: number;
}

export interface TaskListQuery {
  readonly agent_id?: AgentId;
  /** At most this many, newest first. */
  readonly limit: number;
  /** Only tasks accepted before the one with this `order` (the previous page's last). */
  readonly before?: number;
}

export interface Scheduler extends TaskControl {
  scheduleTask(request: TaskRequest): Promise<ScheduledTask>;
  cancelTask(taskId: TaskId): Promise<void>;
  getTaskStatus(taskId: TaskId): Promise<TaskStatus>;
  listPendingTasks(): Promise<ScheduledTask[]>;
  listRunningTasks(): Promise<RunningTask[]>;
  getSchedulerMetrics(): Promise<SchedulerMetrics>;
  updateTaskPriority(taskId: TaskId, priority: Priority): Promise<void>;
  pauseScheduling(): Promise<void>;
  resumeScheduling(): Promise<void>;
  /** Resolves when the task finishes (Completed, Failed, Cancelled or TimedOut) with its final status. */
  waitForTask(taskId: TaskId): Promise<TaskStatus>;
  /** Pending, running and retained finished tasks (see `finished_task_retention`), newest first. */
  listTasks(query: TaskListQuery): Promise<TaskView[]>;
  shutdown(): Promise<void>;
}
