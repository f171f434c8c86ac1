/**
 * Schedule jobs: named cron schedules managed at run time (the `/schedules` API), each firing tasks for one
 * agent. Unlike a Scheduled agent's own execution mode, a job is an entity of its own: it can be paused,
 * resumed, triggered, edited and deleted, it keeps a run history, and it is persisted in the state store's
 * schedule repository so it survives restarts.
 */
import type { AgentId, TaskId } from "../core/ids.js";

/**
 * Active: fires at its cron times. Paused: kept, not firing. Completed: a one-shot job that ran, or a cron
 * with no fire time left. Failed: its agent is gone. DeadLetter: `schedule_dead_letter_after` runs in a row
 * failed; it stops until resumed.
 */
export type JobStatus = "Active" | "Paused" | "Completed" | "Failed" | "DeadLetter";
export const JOB_STATUSES: readonly JobStatus[] = ["Active", "Paused", "Completed", "Failed", "DeadLetter"];

/** Skipped: the fire time passed without a task (agent unable to work, previous run still going, policy denial, missed while down). */
export type RunStatus = "Running" | "Succeeded" | "Failed" | "TimedOut" | "Skipped";
export const RUN_STATUSES: readonly RunStatus[] = ["Running", "Succeeded", "Failed", "TimedOut", "Skipped"];

export interface ScheduleJob {
  readonly id: string;
  readonly name: string;
  readonly agent_id: AgentId;
  /** 6 fields (seconds first) or 7 (with year). */
  readonly cron: string;
  readonly timezone: string;
  /** Policies asked (`schedule.run` on the job) before each run; a denial skips the run. */
  readonly policy_ids: readonly string[];
  readonly one_shot: boolean;
  /** The task input of each run; by default `{schedule_id, schedule_name, scheduled_for}`. */
  readonly input?: unknown;
  readonly status: JobStatus;
  /** Why the job is Failed or DeadLetter. */
  readonly status_reason: string | null;
  /** Epoch ms of the next fire time (null when not Active or the cron has ended). */
  readonly next_run: number | null;
  readonly last_run: number | null;
  /** Runs that became tasks. */
  readonly run_count: number;
  readonly failure_count: number;
  readonly consecutive_failures: number;
  readonly created_at: number;
  readonly updated_at: number;
}

export interface ScheduleRun {
  /** The task id of a run that became a task; a fresh id for a skipped one. */
  readonly run_id: string;
  readonly task_id: TaskId | null;
  readonly trigger: "schedule" | "manual";
  readonly scheduled_for: number;
  readonly started_at: number;
  readonly completed_at: number | null;
  readonly status: RunStatus;
  readonly error: string | null;
  readonly execution_time_ms: number | null;
}

export interface NewScheduleJob {
  readonly name: string;
  readonly agent_id: AgentId;
  readonly cron: string;
  /** IANA name, default UTC. */
  readonly timezone?: string;
  readonly policy_ids?: readonly string[];
  readonly one_shot?: boolean;
  readonly input?: unknown;
}

export type ScheduleJobPatch = Partial<Omit<NewScheduleJob, "agent_id">>;

declare module "../core/events.js" {
  interface RuntimeEventMap {
    /** A job was created, updated, paused, resumed, deleted, completed, failed or dead-lettered. */
    "schedule.job_changed": { schedule_id: string; agent_id: AgentId; action: string; status: JobStatus; reason?: string };
    /** A job's fire time (or a manual trigger) produced a task, or was skipped. */
    "schedule.job_run": { schedule_id: string; agent_id: AgentId; run_id: string; status: RunStatus; trigger: ScheduleRun["trigger"]; error?: string };
  }
}
