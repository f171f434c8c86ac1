/**
 * The scheduler's durable side. With a durable state store the runtime hands the scheduler a `TaskJournal`:
 * every task it accepts and every change of a task's state is written to the store's task repository, and
 * `pending()` reads back what a restart must resume. Without one (the `memory` store) the scheduler runs on
 * its in-memory queue alone.
 *
 * The store's compare-and-set writes carry the guarantees: `accept` is idempotent by id (a task id is never
 * queued twice, even after a restart), and a task runs only after `claim` moved it from Pending to Running,
 * so a task that finished — or that another node sharing the store claimed — is never run again.
 */
import type { Clock } from "../core/clock.js";
import type { AgentId, TaskId } from "../core/ids.js";
import type { Priority } from "../core/types.js";
import type { StoredTask, TaskRepository } from "../store/types.js";
import type { ScheduledTask, TaskError, TaskStatus } from "./types.js";

/** How a task ended, as the journal records it. */
export type FinalStatus = Extract<TaskStatus, { state: "Completed" | "Failed" | "Cancelled" | "TimedOut" }>;

export interface TaskJournal {
  /**
   * Commits a new Pending task; `accepted` is false when a task with this id is already stored (whatever its
   * state). An object rather than a boolean so the store's own answer is handed through without another
   * promise per task.
   */
  accept(task: ScheduledTask): Promise<{ readonly accepted: boolean }>;
  /** Pending → Running for this node: the attempt number, or undefined when the stored task is not Pending. */
  claim(id: TaskId): Promise<number | undefined>;
  finish(id: TaskId, status: FinalStatus): Promise<void>;
  /** Running → Pending again at `retryAt` (epoch ms), one more retry counted. */
  retry(id: TaskId, retryAt: number, error: TaskError): Promise<void>;
  updatePriority(id: TaskId, priority: Priority): Promise<void>;
  reassign(id: TaskId, agentId: AgentId): Promise<void>;
  /** Every stored Pending task in arrival order, with the attempts already made. */
  pending(): Promise<{ task: ScheduledTask; attempts: number }[]>;
  /** The stored status of a task the scheduler no longer (or not yet) holds in memory. */
  status(id: TaskId): Promise<TaskStatus | undefined>;
}

/** A TaskJournal on the state store's task repository; `owner` is this node's `store.node_id`. */
export class StoreTaskJournal implements TaskJournal {
  readonly #tasks: TaskRepository;
  readonly #owner: string;
  readonly #clock: Clock;

  constructor(tasks: TaskRepository, owner: string, clock: Clock) {
    this.#tasks = tasks;
    this.#owner = owner;
    this.#clock = clock;
  }

  accept(t: ScheduledTask): Promise<{ readonly accepted: boolean }> {
    const stored = { id: t.id, agent_id: t.agent_id, priority: t.priority, scheduled_time: t.scheduled_time, timeout: t.timeout, retry_count: t.retry_count, payload: t.input };
    return this.#tasks.accept(stored, this.#clock.now());
  }

  async claim(id: TaskId): Promise<number | undefined> {
    return (await this.#tasks.claim(id, this.#owner, this.#clock.now()))?.attempts;
  }

  async finish(id: TaskId, status: FinalStatus): Promise<void> {
    const at = this.#clock.now();
    if (status.state === "Cancelled") {
      await this.#tasks.cancel(id, at);
      return;
    }
    const outcome =
      status.state === "Completed"
        ? ({ status: "Completed", result: status.result } as const)
        : ({ status: status.state, error: JSON.stringify(status.error) } as const);
    if (await this.#tasks.finish(id, outcome, at)) return;
    // The store finishes only Running tasks: one that failed before it could start is claimed first.
    if (await this.#tasks.claim(id, this.#owner, at)) await this.#tasks.finish(id, outcome, at);
  }

  async retry(id: TaskId, retryAt: number, error: TaskError): Promise<void> {
    await this.#tasks.retry(id, retryAt, JSON.stringify(error), this.#clock.now());
  }

  async updatePriority(id: TaskId, priority: Priority): Promise<void> {
    await this.#tasks.updatePriority(id, priority, this.#clock.now());
  }

  async reassign(id: TaskId, agentId: AgentId): Promise<void> {
    await this.#tasks.reassign(id, agentId, this.#clock.now());
  }

  async pending(): Promise<{ task: ScheduledTask; attempts: number }[]> {
    return (await this.#tasks.list({ status: "Pending" })).map((t) => ({ task: scheduledTask(t), attempts: t.attempts }));
  }

  async status(id: TaskId): Promise<TaskStatus | undefined> {
    const t = await this.#tasks.get(id);
    return t && storedStatus(t);
  }
}

function scheduledTask(t: StoredTask): ScheduledTask {
  return { id: t.id, agent_id: t.agent_id, priority: t.priority, scheduled_time: t.scheduled_time, timeout: t.timeout, retry_count: t.retry_count, input: t.payload };
}

function storedStatus(t: StoredTask): TaskStatus {
  const finishedAt = t.finished_at ?? t.updated_at;
  switch (t.status) {
    case "Pending":
      return { state: "Pending", since: t.updated_at };
    case "Running":
      return { state: "Running", started_at: t.started_at ?? t.updated_at, executor_id: t.owner ?? "", attempt: t.attempts };
    case "Completed":
      return { state: "Completed", finished_at: finishedAt, result: t.result };
    case "Cancelled":
      return { state: "Cancelled", finished_at: finishedAt, reason: "cancelled" };
    default:
      return { state: t.status, finished_at: finishedAt, error: storedError(t.error) };
  }
}

/** The journal writes errors as TaskError JSON; a row written by anything else keeps its text as the message. */
function storedError(text: string | null): TaskError {
  try {
    const e = JSON.parse(text ?? "") as Partial<TaskError> | null;
    if (e && typeof e.code === "string" && typeof e.message === "string") return e as TaskError;
  } catch {
    // Plain text from another writer: kept as the message below.
  }
  return { code: "AGENT_TASK_FAILED", message: text ?? "unknown error" };
}
