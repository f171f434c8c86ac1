/**
 * What the scheduler holds per task: its record (where it is, its status, its waiters) and, while it runs,
 * its Run.
 */
import type { TimerHandle } from "../core/clock.js";
import type { ExecutorSlot } from "./load-balancer.js";
import { RunAbort } from "./run-abort.js";
import type { ScheduledTask, TaskContext, TaskStatus } from "./types.js";

/**
 * Where a task is: being committed ("accepting"), queued ("ready"), waiting for its scheduled_time
 * ("delayed"), for its agent ("waiting") or out a retry backoff ("retrying"), being claimed in the store
 * ("claiming"), running, having its failure decided ("deciding"), or finished ("done").
 */
export type Place = "accepting" | "ready" | "delayed" | "waiting" | "retrying" | "claiming" | "running" | "deciding" | "done";

/** Places of a task that waits to run (what cancelling an agent's tasks or a shutdown takes out). */
export const QUEUED: ReadonlySet<Place> = new Set(["ready", "delayed", "waiting", "retrying"]);

/**
 * A running task in one object (dispatch of small tasks is benchmarked): its abort plumbing, its entry in the
 * deadline heap (`at`, monotonic), and the TaskContext its runner gets.
 */
export class Run extends RunAbort implements TaskContext {
  dead = false;
  /** Why it was stopped. "shutdown": by the scheduler's shutdown, which leaves the task to the next start. */
  stop: "timeout" | "cancel" | "shutdown" | undefined;
  cancelReason: string | undefined;

  constructor(
    readonly rec: TaskRecord,
    readonly slot: ExecutorSlot,
    readonly started_at: number,
    readonly started_mono: number,
    readonly at: number,
    readonly seq: number,
    readonly attempt: number,
  ) {
    super();
  }

  get executor_id(): string {
    return this.slot.id;
  }

  /** Epoch ms when the task will be killed. */
  get deadline(): number {
    return this.started_at + this.rec.task.timeout;
  }
}

export interface TaskRecord {
  task: ScheduledTask;
  status: TaskStatus;
  place: Place;
  seq: number;
  /** Acceptance rank (never changes, unlike `seq`, which a retry renews). */
  readonly order: number;
  /** Monotonic ms when it last joined the queue (wait time and aging). */
  enqueued_mono: number;
  attempt: number;
  /** The seq of its place in the ready queue, -1 when not there. */
  queued: number;
  delayed?: Delayed;
  retryTimer?: TimerHandle;
  run?: Run;
  cancelRequested?: string;
  /** Finished, and its end is being committed: announced once it is. */
  committing?: boolean;
  waiters?: ((s: TaskStatus) => void)[];
}

export interface Delayed {
  readonly at: number;
  readonly seq: number;
  dead: boolean;
  readonly rec: TaskRecord;
}
