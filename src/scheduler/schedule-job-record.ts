/**
 * A schedule job as a row of the state store's schedule repository: the repository's columns hold the agent,
 * cron, timezone, next/last run and enabled flag; the job's own fields (name, status, counters, policies,
 * input) ride in `payload`, tagged `kind: "schedule_job"` so rows written by other users of the repository are
 * left alone.
 */
import { z } from "zod";
import { AgentId } from "../core/ids.js";
import type { MissedRunPolicy as StoredMissedRunPolicy, StoredSchedule } from "../store/types.js";
import type { MissedRunPolicy } from "../core/config/scheduler.js";
import { JOB_STATUSES, type ScheduleJob } from "./schedule-job-types.js";

const KIND = "schedule_job";

const payloadSchema = z.object({
  kind: z.literal(KIND),
  name: z.string(),
  status: z.enum(JOB_STATUSES as [ScheduleJob["status"], ...ScheduleJob["status"][]]),
  status_reason: z.string().nullable(),
  policy_ids: z.array(z.string()),
  one_shot: z.boolean(),
  input: z.unknown().optional(),
  run_count: z.number().int().nonnegative(),
  failure_count: z.number().int().nonnegative(),
  consecutive_failures: z.number().int().nonnegative(),
});

export function toStoredSchedule(job: ScheduleJob, policy: MissedRunPolicy): StoredSchedule {
  const payload: z.input<typeof payloadSchema> = {
    kind: KIND,
    name: job.name,
    status: job.status,
    status_reason: job.status_reason,
    policy_ids: [...job.policy_ids],
    one_shot: job.one_shot,
    ...(job.input !== undefined ? { input: job.input } : {}),
    run_count: job.run_count,
    failure_count: job.failure_count,
    consecutive_failures: job.consecutive_failures,
  };
  const missed: StoredMissedRunPolicy = policy === "Skip" ? "skip" : "run_once";
  return {
    id: job.id,
    agent_id: job.agent_id,
    interval: null,
    cron: job.cron,
    timezone: job.timezone,
    // The column is not nullable: a job with no next run keeps its last one (and is not enabled).
    next_run_at: job.next_run ?? job.last_run ?? job.created_at,
    last_run_at: job.last_run,
    missed_run_policy: missed,
    enabled: job.status === "Active",
    payload,
    created_at: job.created_at,
    updated_at: job.updated_at,
  };
}

/** The job a row holds, or undefined when the row is not a schedule job (another user of the repository). */
export function fromStoredSchedule(row: StoredSchedule): ScheduleJob | undefined {
  const parsed = payloadSchema.safeParse(row.payload);
  if (!parsed.success || row.cron === null || !AgentId.is(row.agent_id)) return undefined;
  const p = parsed.data;
  return {
    id: row.id,
    name: p.name,
    agent_id: row.agent_id,
    cron: row.cron,
    timezone: row.timezone ?? "UTC",
    policy_ids: p.policy_ids,
    one_shot: p.one_shot,
    ...(p.input !== undefined ? { input: p.input } : {}),
    status: p.status,
    status_reason: p.status_reason,
    next_run: p.status === "Active" ? row.next_run_at : null,
    last_run: row.last_run_at,
    run_count: p.run_count,
    failure_count: p.failure_count,
    consecutive_failures: p.consecutive_failures,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

/** Whether a row is tagged as a schedule job (malformed ones included, to report them). */
export function isScheduleJobRow(row: StoredSchedule): boolean {
  return typeof row.payload === "object" && row.payload !== null && (row.payload as { kind?: unknown }).kind === KIND;
}
