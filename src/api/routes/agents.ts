/**
 * Agent routes, wire-compatible with the Symbiont management API: list, create, read, update, delete,
 * status, and the lifecycle actions start/stop/suspend/resume/restart.
 */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { parseAgentConfig } from "../../core/schemas.js";
import { agentStateSchema } from "../../core/schemas.js";
import type { AgentInstance } from "../../core/types.js";
import { inScope, requireScope, requireUnscoped } from "../auth.js";
import { createFromDsl, updateFromDsl } from "../dsl-agents.js";
import { route, type ApiContext } from "../context.js";
import { agentIdString } from "../route.js";
import { agentConfigInput, agentIdParam, capabilityWire, createAgentBodySchema, executionModeWireSchema, fromExecutionMode, isoSeconds, updateAgentBodySchema } from "../wire.js";

const idParams = z.object({ id: agentIdString });
const agentSummary = z.object({ id: z.string().uuid(), name: z.string(), state: agentStateSchema });
const idStatus = (status: string) => z.object({ id: z.string().uuid(), status: z.literal(status) });

export const agentStatusSchema = z.object({
  agent_id: z.string().uuid(),
  state: agentStateSchema,
  last_activity: z.string().describe("ISO-8601"),
  resource_usage: z.object({
    memory_bytes: z.number().int(),
    cpu_percent: z.number(),
    active_tasks: z.number().int(),
  }),
  usage_source: z.enum(["sandbox", "reported", "none"]).describe("where memory_bytes/cpu_percent come from; none means nothing was measured"),
  execution_mode: executionModeWireSchema,
  metadata: z.record(z.string(), z.string()),
  last_result: z.unknown().optional(),
  recent_events: z.array(z.object({ event_type: z.string(), timestamp: z.string(), payload: z.unknown() })),
});

const agentDetail = z.object({
  id: z.string().uuid(),
  name: z.string(),
  state: agentStateSchema,
  dsl: z.string(),
  execution_mode: executionModeWireSchema,
  capabilities: z.array(z.string()),
  metadata: z.record(z.string(), z.string()),
  security_tier: z.string(),
  priority: z.string(),
  created_at: z.string(),
  last_updated: z.string(),
  execution_count: z.number().int(),
  error_count: z.number().int(),
  restart_count: z.number().int(),
});

function detail(a: AgentInstance): z.infer<typeof agentDetail> {
  return {
    id: a.id,
    name: a.config.name,
    state: a.state,
    dsl: a.config.dsl_source,
    execution_mode: fromExecutionMode(a.config.execution_mode),
    capabilities: a.config.capabilities.map(capabilityWire),
    metadata: { ...a.config.metadata },
    security_tier: a.config.security_tier,
    priority: a.config.priority,
    created_at: isoSeconds(a.created_at),
    last_updated: isoSeconds(a.last_updated),
    execution_count: a.execution_count,
    error_count: a.error_count,
    restart_count: a.restart_count,
  };
}

export function agentRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { lifecycle, clock } = ctx.runtime;
  const workflows = ctx.runtime.workflows;

  route(app, ctx, {
    method: "GET",
    url: "/agents",
    tag: "agents",
    access: "key",
    summary: "List agents",
    description: "By default an array of {id, name, state} (the management API's form). With ids_only=true, the spec's plain array of ids. A scoped key sees only its agents.",
    query: z.object({ ids_only: z.enum(["true", "false"]).optional() }),
    response: z.union([z.array(agentSummary), z.array(z.string().uuid())]),
    handler: async ({ query, principal }) => {
      const agents = (await lifecycle.listAgents()).filter((a) => inScope(principal, a.id));
      if (query.ids_only === "true") return agents.map((a) => a.id);
      return agents.map((a) => ({ id: a.id, name: a.config.name, state: a.state }));
    },
  });

  route(app, ctx, {
    method: "POST",
    url: "/agents",
    tag: "agents",
    access: "key",
    summary: "Create an agent, initialize it and start it",
    description: "With `dsl`, the source is parsed and extracted (errors: 400 with file:line:col per problem) and every agent it defines is created; `name` picks the agent whose id is returned (`agents` lists them all when there are several).",
    body: createAgentBodySchema,
    response: idStatus("scheduled").extend({ agents: z.array(z.object({ id: z.string().uuid(), name: z.string() })).optional() }),
    handler: async ({ body, principal }) => {
      requireUnscoped(principal, "create agents");
      if (body.dsl !== undefined) {
        const agents = await createFromDsl(ctx.runtime, { ...body, dsl: body.dsl });
        const listed = agents.length > 1 ? { agents: agents.map((a) => ({ id: a.id, name: a.config.name })) } : {};
        return { id: (agents[0] as AgentInstance).id, status: "scheduled" as const, ...listed };
      }
      const created = await lifecycle.createAgent(parseAgentConfig(agentConfigInput(body, clock.now())));
      await lifecycle.initializeAgent(created.id);
      await lifecycle.startAgent(created.id);
      return { id: created.id, status: "scheduled" as const };
    },
  });

  route(app, ctx, {
    method: "GET",
    url: "/agents/:id",
    tag: "agents",
    access: "key",
    summary: "An agent's configuration and counters",
    params: idParams,
    response: agentDetail,
    handler: async ({ params, principal }) => {
      const id = agentIdParam(params.id);
      requireScope(principal, id);
      return detail(await lifecycle.getAgent(id));
    },
  });

  route(app, ctx, {
    method: "PUT",
    url: "/agents/:id",
    tag: "agents",
    access: "key",
    summary: "Update an agent's configuration (any subset of the create fields)",
    description: "With `dsl`, the agent's definition is re-extracted from the source (the agent it ran before, or the only one) and the other fields laid over it.",
    params: idParams,
    body: updateAgentBodySchema,
    response: idStatus("updated"),
    handler: async ({ params, body, principal }) => {
      const id = agentIdParam(params.id);
      requireScope(principal, id);
      if (body.dsl !== undefined) {
        await updateFromDsl(ctx.runtime, id, { ...body, dsl: body.dsl });
        return { id, status: "updated" as const };
      }
      const current = await lifecycle.getAgent(id);
      const next = parseAgentConfig({ ...current.config, ...agentConfigInput(body, clock.now()), id });
      await lifecycle.updateAgentConfig(id, next);
      return { id, status: "updated" as const };
    },
  });

  route(app, ctx, {
    method: "DELETE",
    url: "/agents/:id",
    tag: "agents",
    access: "key",
    summary: "Terminate an agent, release what it holds and remove it",
    params: idParams,
    response: idStatus("deleted"),
    handler: async ({ params, principal }) => {
      const id = agentIdParam(params.id);
      requireScope(principal, id);
      await lifecycle.terminateAgent(id);
      return { id, status: "deleted" as const };
    },
  });

  route(app, ctx, {
    method: "GET",
    url: "/agents/:id/status",
    tag: "agents",
    access: "key",
    summary: "An agent's state, last activity and measured resource usage",
    params: idParams,
    response: agentStatusSchema,
    handler: async ({ params, principal }) => {
      const id = agentIdParam(params.id);
      requireScope(principal, id);
      const agent = await lifecycle.getAgent(id);
      const report = ctx.activity.get(id);
      const measured = ctx.usage ? await ctx.usage.agentUsage(id) : undefined;
      const usage = measured ?? report?.usage;
      return {
        agent_id: id,
        state: agent.state,
        last_activity: isoSeconds(Math.max(agent.last_updated, report?.last_seen ?? 0)),
        resource_usage: {
          memory_bytes: Math.round(usage?.memory_bytes ?? 0),
          cpu_percent: usage?.cpu_percent ?? 0,
          active_tasks: workflows.runner.activeTasks(id),
        },
        usage_source: measured ? ("sandbox" as const) : report?.usage ? ("reported" as const) : ("none" as const),
        execution_mode: fromExecutionMode(agent.config.execution_mode),
        metadata: { ...agent.config.metadata, ...report?.metadata },
        ...(report?.last_result !== undefined ? { last_result: report.last_result } : {}),
        recent_events: report?.recent ?? [],
      };
    },
  });

  const actions = {
    start: { summary: "Start (initializing first when the agent is new)", run: async (id: AgentInstance["id"]) => {
      if ((await lifecycle.getAgentState(id)) === "Created") await lifecycle.initializeAgent(id);
      await lifecycle.startAgent(id);
    } },
    stop: { summary: "Stop gracefully (Running → Completed)", run: (id: AgentInstance["id"]) => lifecycle.stopAgent(id) },
    suspend: { summary: "Suspend", run: (id: AgentInstance["id"]) => lifecycle.suspendAgent(id) },
    resume: { summary: "Resume a suspended agent", run: (id: AgentInstance["id"]) => lifecycle.resumeAgent(id) },
    restart: { summary: "Restart (re-initialize and start)", run: (id: AgentInstance["id"]) => lifecycle.restartAgent(id) },
  } as const;
  for (const [name, action] of Object.entries(actions)) {
    route(app, ctx, {
      method: "POST",
      url: `/agents/:id/${name}`,
      tag: "agents",
      access: "key",
      summary: action.summary,
      params: idParams,
      response: z.object({ id: z.string().uuid(), state: agentStateSchema }),
      handler: async ({ params, principal }) => {
        const id = agentIdParam(params.id);
        requireScope(principal, id);
        await action.run(id);
        return { id, state: await lifecycle.getAgentState(id) };
      },
    });
  }
}
