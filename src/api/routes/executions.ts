/**
 * Running an agent on demand: `POST /agents/{id}/execute` queues a task on the scheduler (priority queue,
 * concurrency cap, timeout, retries, the agent's handler or sandboxed program) and answers at once;
 * `GET /agents/{id}/history` reads the agent's tasks back from the scheduler, newest first.
 */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { prioritySchema } from "../../core/schemas.js";
import { TASK_STATES, type TaskStatus, type TaskView } from "../../scheduler/index.js";
import { requireScope } from "../auth.js";
import { route, type ApiContext } from "../context.js";
import { agentIdString } from "../route.js";
import { agentIdParam, isoSeconds } from "../wire.js";

const MAX_TIMEOUT_SECONDS = 86_400;

export const executeAgentBodySchema = z
  .object({
    /** The task's input, handed to the agent as is. */
    parameters: z.record(z.string(), z.unknown()).optional(),
    timeout: z.number().int().min(1).max(MAX_TIMEOUT_SECONDS).optional().describe("seconds the run may take (default scheduler.task_timeout)"),
    priority: prioritySchema.optional(),
  })
  .strict();

const taskError = z.object({ code: z.string(), message: z.string() });

export const executionRecordSchema = z.object({
  execution_id: z.string().uuid(),
  status: z.enum(TASK_STATES as [string, ...string[]]),
  timestamp: z.string().describe("when the execution was requested (ISO-8601)"),
  result: z.unknown().optional(),
  error: taskError.optional(),
});

const historyQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().regex(/^\d{1,15}$/, "expected the next_cursor of a previous page").optional(),
});

function record(view: TaskView): z.infer<typeof executionRecordSchema> {
  const s: TaskStatus = view.status;
  return {
    execution_id: view.task.id,
    status: s.state,
    timestamp: isoSeconds(view.task.scheduled_time),
    ...(s.state === "Completed" ? { result: s.result ?? null } : {}),
    ...("error" in s ? { error: { code: s.error.code, message: s.error.message } } : {}),
    ...(s.state === "Cancelled" ? { error: { code: "TASK_CANCELLED", message: s.reason } } : {}),
  };
}

export function executionRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { lifecycle, scheduler } = ctx.runtime;
  const params = z.object({ id: agentIdString });

  route(app, ctx, {
    method: "POST",
    url: "/agents/:id/execute",
    tag: "agents",
    access: "key",
    summary: "Run the agent once: queue a task with these parameters as its input",
    description: "Answers at once; follow the run with GET /agents/{id}/history (the execution_id is the task id).",
    params,
    body: executeAgentBodySchema,
    response: z.object({ execution_id: z.string().uuid(), status: z.literal("execution_started") }),
    handler: async ({ params, body, principal }) => {
      const id = agentIdParam(params.id);
      requireScope(principal, id);
      await lifecycle.getAgent(id);
      const task = await scheduler.scheduleTask({
        agent_id: id,
        input: body.parameters ?? {},
        ...(body.timeout !== undefined ? { timeout: body.timeout * 1000 } : {}),
        ...(body.priority !== undefined ? { priority: body.priority } : {}),
      });
      return { execution_id: task.id, status: "execution_started" as const };
    },
  });

  route(app, ctx, {
    method: "GET",
    url: "/agents/:id/history",
    tag: "agents",
    access: "key",
    summary: "The agent's executions (its tasks), newest first, with their result or error",
    description:
      "Pending, running and finished tasks the scheduler still holds (the newest scheduler.finished_task_retention finished ones). Page with limit and the previous page's next_cursor.",
    params,
    query: historyQuery,
    response: z.object({ history: z.array(executionRecordSchema), next_cursor: z.string().nullable() }),
    handler: async ({ params, query, principal }) => {
      const id = agentIdParam(params.id);
      requireScope(principal, id);
      await lifecycle.getAgent(id);
      const views = await scheduler.listTasks({ agent_id: id, limit: query.limit + 1, ...(query.cursor !== undefined ? { before: Number(query.cursor) } : {}) });
      const page = views.slice(0, query.limit);
      const last = page[page.length - 1];
      return { history: page.map(record), next_cursor: views.length > query.limit && last ? String(last.order) : null };
    },
  });
}
