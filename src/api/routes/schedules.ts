/**
 * Schedule routes, wire-compatible with the Symbiont management API's cron scheduler: named jobs that run an
 * agent at the times a cron expression (6 fields, seconds first, optional 7th for the year) names in a
 * timezone. Backed by the scheduler's schedule jobs, so each fire time really queues a task for the agent.
 * A key scoped to agents sees and manages only the jobs of its agents.
 */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { ApiError, LifecycleError } from "../../core/errors.js";
import { AgentId } from "../../core/ids.js";
import type { LifecycleController } from "../../lifecycle/index.js";
import { JOB_STATUSES, RUN_STATUSES, type ScheduleJob, type ScheduleRun } from "../../scheduler/index.js";
import { inScope, requireScope } from "../auth.js";
import { route, type ApiContext } from "../context.js";
import type { Principal } from "../keys/types.js";
import { agentIdString } from "../route.js";
import { isoSeconds } from "../wire.js";

/** A path parameter that must be a schedule id: a malformed one is 400 INVALID_SCHEDULE_ID. */
const scheduleIdString = z.string().superRefine((s, c) => {
  if (!AgentId.is(s)) c.addIssue({ code: "custom", message: "expected a UUID", params: { apiCode: "INVALID_SCHEDULE_ID" } });
});

const cronFields = {
  cron_expression: z.string().trim().min(1).max(256).describe("6 fields, seconds first, optional 7th for the year"),
  timezone: z.string().min(1).max(64).describe("IANA timezone (default UTC)"),
  policy_ids: z.array(z.string().min(1).max(128)).max(64).describe("policies asked for schedule.run before each run; a denial skips it"),
  one_shot: z.boolean().describe("run once at the next fire time, then Completed"),
  input: z.unknown().describe("the task input of each run (default {schedule_id, schedule_name, scheduled_for})"),
};

export const createScheduleBodySchema = z
  .object({
    name: z.string().trim().min(1).max(128),
    cron_expression: cronFields.cron_expression,
    timezone: cronFields.timezone.optional(),
    agent_name: z.string().min(1).max(128).optional(),
    agent_id: agentIdString.optional(),
    policy_ids: cronFields.policy_ids.optional(),
    one_shot: cronFields.one_shot.optional(),
    input: cronFields.input.optional(),
  })
  .strict()
  .refine((b) => b.agent_name !== undefined || b.agent_id !== undefined, { message: "agent_name or agent_id is required", path: ["agent_name"] });

export const updateScheduleBodySchema = z
  .object({
    name: z.string().trim().min(1).max(128).optional(),
    cron_expression: cronFields.cron_expression.optional(),
    timezone: cronFields.timezone.optional(),
    policy_ids: cronFields.policy_ids.optional(),
    one_shot: cronFields.one_shot.optional(),
    input: cronFields.input.optional(),
  })
  .strict();

const iso = z.string().describe("ISO-8601");
const summarySchema = z.object({
  job_id: z.string().uuid(),
  name: z.string(),
  cron_expression: z.string(),
  timezone: z.string(),
  status: z.enum(JOB_STATUSES as [string, ...string[]]),
  enabled: z.boolean(),
  next_run: iso.nullable(),
  run_count: z.number().int(),
});
const detailSchema = summarySchema.extend({
  agent_id: z.string().uuid(),
  agent_name: z.string().nullable(),
  one_shot: z.boolean(),
  policy_ids: z.array(z.string()),
  last_run: iso.nullable(),
  failure_count: z.number().int(),
  status_reason: z.string().nullable(),
  created_at: iso,
  updated_at: iso,
});
const runSchema = z.object({
  run_id: z.string().uuid(),
  started_at: iso,
  completed_at: iso.nullable(),
  status: z.enum(RUN_STATUSES as [string, ...string[]]),
  error: z.string().nullable(),
  execution_time_ms: z.number().int().nullable(),
  trigger: z.enum(["schedule", "manual"]),
  scheduled_for: iso,
});

const t = (ms: number | null) => (ms === null ? null : isoSeconds(ms));

function summary(job: ScheduleJob): z.infer<typeof summarySchema> {
  return {
    job_id: job.id,
    name: job.name,
    cron_expression: job.cron,
    timezone: job.timezone,
    status: job.status,
    enabled: job.status === "Active",
    next_run: t(job.next_run),
    run_count: job.run_count,
  };
}

async function detail(job: ScheduleJob, lifecycle: LifecycleController): Promise<z.infer<typeof detailSchema>> {
  const agent = await lifecycle.getAgent(job.agent_id).catch(() => undefined);
  return {
    ...summary(job),
    agent_id: job.agent_id,
    agent_name: agent?.config.name ?? null,
    one_shot: job.one_shot,
    policy_ids: [...job.policy_ids],
    last_run: t(job.last_run),
    failure_count: job.failure_count,
    status_reason: job.status_reason,
    created_at: isoSeconds(job.created_at),
    updated_at: isoSeconds(job.updated_at),
  };
}

function runView(r: ScheduleRun): z.infer<typeof runSchema> {
  return {
    run_id: r.run_id,
    started_at: isoSeconds(r.started_at),
    completed_at: t(r.completed_at),
    status: r.status,
    error: r.error,
    execution_time_ms: r.execution_time_ms === null ? null : Math.round(r.execution_time_ms),
    trigger: r.trigger,
    scheduled_for: isoSeconds(r.scheduled_for),
  };
}

const GONE = new Set(["Terminating", "Terminated"]);

/** The agent a create body names: by id, or by name among live agents (one, not several). */
async function resolveAgent(lifecycle: LifecycleController, body: { agent_id?: string | undefined; agent_name?: string | undefined }): Promise<AgentId> {
  if (body.agent_id !== undefined) return (await lifecycle.getAgent(AgentId.parse(body.agent_id))).id;
  const name = body.agent_name as string;
  const matches = (await lifecycle.listAgents()).filter((a) => a.config.name === name && !GONE.has(a.state));
  const [only] = matches;
  if (!only) throw new LifecycleError("AGENT_NOT_FOUND", `No agent named ${JSON.stringify(name)}`, { details: { agent_name: name } });
  if (matches.length > 1) {
    throw new ApiError("AGENT_NAME_AMBIGUOUS", `${matches.length} agents are named ${JSON.stringify(name)}; give agent_id instead`, {
      details: { agent_name: name, agent_ids: matches.map((a) => a.id) },
    });
  }
  return only.id;
}

export function scheduleRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { lifecycle, scheduleJobs: jobs } = ctx.runtime;
  const params = z.object({ id: scheduleIdString });
  /** The job, once the caller may see it. */
  const visible = (id: string, principal: Principal | undefined): ScheduleJob => {
    const job = jobs.get(id.toLowerCase());
    requireScope(principal, job.agent_id);
    return job;
  };

  route(app, ctx, {
    method: "GET",
    url: "/schedules",
    tag: "schedules",
    access: "key",
    summary: "List schedule jobs",
    response: z.array(summarySchema),
    handler: ({ principal }) => jobs.list().filter((j) => inScope(principal, j.agent_id)).map(summary),
  });

  route(app, ctx, {
    method: "POST",
    url: "/schedules",
    tag: "schedules",
    access: "key",
    summary: "Create a cron job that runs an agent",
    description: "A bad cron expression or timezone is 400 CRON_INVALID; an unknown agent 404 AGENT_NOT_FOUND; an unknown policy 404 POLICY_NOT_FOUND.",
    body: createScheduleBodySchema,
    status: 201,
    response: z.object({ job_id: z.string().uuid(), next_run: iso.nullable(), status: z.literal("created") }),
    handler: async ({ body, principal }) => {
      const agent_id = await resolveAgent(lifecycle, body);
      requireScope(principal, agent_id);
      const job = await jobs.create({
        name: body.name,
        agent_id,
        cron: body.cron_expression,
        ...(body.timezone !== undefined ? { timezone: body.timezone } : {}),
        ...(body.policy_ids !== undefined ? { policy_ids: body.policy_ids } : {}),
        ...(body.one_shot !== undefined ? { one_shot: body.one_shot } : {}),
        ...(body.input !== undefined ? { input: body.input } : {}),
      });
      return { job_id: job.id, next_run: t(job.next_run), status: "created" as const };
    },
  });

  route(app, ctx, {
    method: "GET",
    url: "/schedules/:id",
    tag: "schedules",
    access: "key",
    summary: "A schedule job's configuration, status and counters",
    params,
    response: detailSchema,
    handler: ({ params, principal }) => detail(visible(params.id, principal), lifecycle),
  });

  route(app, ctx, {
    method: "PUT",
    url: "/schedules/:id",
    tag: "schedules",
    access: "key",
    summary: "Change a schedule job (any of name, cron_expression, timezone, policy_ids, one_shot, input)",
    params,
    body: updateScheduleBodySchema,
    response: detailSchema,
    handler: async ({ params, body, principal }) => {
      const job = visible(params.id, principal);
      const updated = await jobs.update(job.id, {
        ...(body.name !== undefined ? { name: body.name } : {}),
        ...(body.cron_expression !== undefined ? { cron: body.cron_expression } : {}),
        ...(body.timezone !== undefined ? { timezone: body.timezone } : {}),
        ...(body.policy_ids !== undefined ? { policy_ids: body.policy_ids } : {}),
        ...(body.one_shot !== undefined ? { one_shot: body.one_shot } : {}),
        ...(body.input !== undefined ? { input: body.input } : {}),
      });
      return detail(updated, lifecycle);
    },
  });

  route(app, ctx, {
    method: "DELETE",
    url: "/schedules/:id",
    tag: "schedules",
    access: "key",
    summary: "Delete a schedule job",
    params,
    response: z.object({ job_id: z.string().uuid(), deleted: z.literal(true) }),
    handler: async ({ params, principal }) => {
      const job = visible(params.id, principal);
      await jobs.remove(job.id);
      return { job_id: job.id, deleted: true as const };
    },
  });

  const actions = {
    pause: { summary: "Pause: keep the job, stop firing", run: async (id: string) => (await jobs.pause(id)).status },
    resume: { summary: "Resume a paused or dead-lettered job from now", run: async (id: string) => (await jobs.resume(id)).status },
    trigger: { summary: "Run the job now (status is the run's; run_id names it in the history)", run: async (id: string) => jobs.trigger(id) },
  } as const;
  for (const [action, spec] of Object.entries(actions)) {
    route(app, ctx, {
      method: "POST",
      url: `/schedules/:id/${action}`,
      tag: "schedules",
      access: "key",
      summary: spec.summary,
      params,
      response: z.object({ job_id: z.string().uuid(), action: z.literal(action), status: z.string(), run_id: z.string().uuid().optional() }),
      handler: async ({ params, principal }) => {
        const job = visible(params.id, principal);
        const out = await spec.run(job.id);
        return typeof out === "string" ? { job_id: job.id, action, status: out } : { job_id: job.id, action, status: out.status, run_id: out.run_id };
      },
    });
  }

  route(app, ctx, {
    method: "GET",
    url: "/schedules/:id/history",
    tag: "schedules",
    access: "key",
    summary: "A schedule job's runs, newest first (the newest scheduler.schedule_run_history are kept)",
    params,
    query: z.object({ limit: z.coerce.number().int().min(1).max(10_000).default(50) }),
    response: z.object({ job_id: z.string().uuid(), history: z.array(runSchema) }),
    handler: ({ params, query, principal }) => {
      const job = visible(params.id, principal);
      return { job_id: job.id, history: jobs.history(job.id, query.limit).map(runView) };
    },
  });

  route(app, ctx, {
    method: "GET",
    url: "/schedules/:id/next-runs",
    tag: "schedules",
    access: "key",
    summary: "The job's next fire times from now",
    params,
    query: z.object({ count: z.coerce.number().int().min(1).max(100).default(10) }),
    response: z.object({ job_id: z.string().uuid(), next_runs: z.array(iso) }),
    handler: ({ params, query, principal }) => {
      const job = visible(params.id, principal);
      return { job_id: job.id, next_runs: jobs.nextRuns(job.id, query.count).map(isoSeconds) };
    },
  });
}
