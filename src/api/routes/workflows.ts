/**
 * Workflow routes: register/list/read/remove definitions, execute (waiting for the result, or starting in
 * the background with `async: true` and polling the execution).
 */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { ApiError } from "../../core/errors.js";
import type { WorkflowExecution } from "../../workflows/index.js";
import { workflowDefinitionSchema } from "../../workflows/index.js";
import { inScope, requireScope } from "../auth.js";
import { route, type ApiContext } from "../context.js";
import type { Principal } from "../keys/types.js";
import { agentIdParam, isoSeconds } from "../wire.js";

export const executeWorkflowBodySchema = z
  .object({
    workflow_id: z.string().min(1).max(128),
    parameters: z.record(z.string(), z.unknown()).default({}),
    agent_id: z.string().max(64).optional(),
    /** Answer 202 with the execution id at once instead of waiting. */
    async: z.boolean().default(false),
  })
  .strict();

const summarySchema = z.object({ id: z.string(), name: z.string().nullable(), description: z.string().nullable(), steps: z.number().int(), source: z.enum(["file", "api"]) });

const executionSchema = z.object({
  execution_id: z.string().uuid(),
  workflow_id: z.string(),
  status: z.enum(["running", "success", "failure"]),
  started_at: z.string(),
  finished_at: z.string().nullable(),
  output: z.unknown(),
  steps: z.array(
    z.object({
      step_id: z.string(),
      agent_id: z.string().uuid(),
      status: z.enum(["pending", "running", "succeeded", "failed", "skipped"]),
      attempts: z.number().int(),
      started_at: z.string().nullable(),
      finished_at: z.string().nullable(),
      error: z.object({ code: z.string(), message: z.string() }).optional(),
    }),
  ),
});

function view(e: WorkflowExecution): z.infer<typeof executionSchema> {
  const t = (v: number | null) => (v === null ? null : isoSeconds(v));
  return {
    execution_id: e.execution_id,
    workflow_id: e.workflow_id,
    status: e.status,
    started_at: isoSeconds(e.started_at),
    finished_at: t(e.finished_at),
    output: e.output,
    steps: e.steps.map((s) => ({
      step_id: s.step_id,
      agent_id: s.agent_id,
      status: s.status,
      attempts: s.attempts,
      started_at: t(s.started_at),
      finished_at: t(s.finished_at),
      ...(s.error ? { error: s.error } : {}),
    })),
  };
}

function visible(principal: Principal | undefined, e: WorkflowExecution): boolean {
  return e.steps.every((s) => inScope(principal, s.agent_id));
}

export function workflowRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const workflows = ctx.runtime.workflows;
  const idParams = z.object({ id: z.string().max(128) });

  route(app, ctx, {
    method: "GET",
    url: "/workflows",
    tag: "workflows",
    access: "key",
    summary: "List registered workflows",
    response: z.object({ workflows: z.array(summarySchema) }),
    handler: () => ({ workflows: workflows.registry.list() }),
  });

  route(app, ctx, {
    method: "POST",
    url: "/workflows",
    tag: "workflows",
    access: "admin",
    summary: "Register (or replace) a workflow definition",
    body: workflowDefinitionSchema,
    status: 201,
    response: summarySchema,
    // The zod parse above gives field errors; register re-validates the structure (cycles, references).
    handler: ({ request }) => workflows.registry.register(request.body),
  });

  route(app, ctx, {
    method: "GET",
    url: "/workflows/:id",
    tag: "workflows",
    access: "key",
    summary: "A workflow's definition",
    params: idParams,
    response: workflowDefinitionSchema,
    handler: ({ params }) => workflows.registry.get(params.id).definition,
  });

  route(app, ctx, {
    method: "DELETE",
    url: "/workflows/:id",
    tag: "workflows",
    access: "admin",
    summary: "Remove a workflow registered through the API",
    params: idParams,
    response: z.object({ id: z.string(), status: z.literal("deleted") }),
    handler: async ({ params }) => {
      await workflows.registry.remove(params.id);
      return { id: params.id, status: "deleted" as const };
    },
  });

  route(app, ctx, {
    method: "POST",
    url: "/workflows/execute",
    tag: "workflows",
    access: "key",
    summary: "Execute a workflow",
    description:
      "Waits for the result and answers {result, output, execution_id}; with async=true answers 202 {execution_id, status: \"running\"} at once — poll GET /workflows/executions/{execution_id}. A step failure is a 200 with result \"failure\" and output {error, steps}.",
    body: executeWorkflowBodySchema,
    response: z.object({ result: z.enum(["success", "failure"]), output: z.unknown(), execution_id: z.string().uuid() }),
    handler: async ({ body, principal, reply }) => {
      const agent_id = body.agent_id === undefined ? undefined : agentIdParam(body.agent_id);
      if (agent_id) requireScope(principal, agent_id);
      const started = await workflows.start(body.workflow_id, body.parameters, {
        ...(agent_id ? { agent_id } : {}),
        allowAgent: (id: string) => inScope(principal, id),
      });
      if (body.async) {
        void reply.status(202);
        return reply.send({ execution_id: started.execution_id, status: "running" });
      }
      const done = await workflows.wait(started.execution_id);
      return { result: done.status === "success" ? "success" : "failure", output: done.output, execution_id: done.execution_id };
    },
  });

  route(app, ctx, {
    method: "GET",
    url: "/workflows/executions/:id",
    tag: "workflows",
    access: "key",
    summary: "A workflow execution: status, per-step progress and, once finished, output",
    params: idParams,
    response: executionSchema,
    handler: ({ params, principal }) => {
      const e = workflows.get(params.id);
      if (!visible(principal, e)) {
        throw new ApiError("AGENT_SCOPE_DENIED", "This execution involves agents outside this key's scope", { details: { execution_id: params.id } });
      }
      return view(e);
    },
  });
}
