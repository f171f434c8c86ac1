/**
 * For agents that run outside the runtime: heartbeats (their state, metadata, last result, optionally their
 * own resource usage) and run events. A reported state the runtime's state machine allows is applied to
 * the agent; one it forbids is refused with INVALID_STATE_TRANSITION.
 */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { LifecycleError } from "../../core/errors.js";
import { agentStateSchema } from "../../core/schemas.js";
import { AGENT_STATES, type AgentState } from "../../core/types.js";
import { canTransition } from "../../lifecycle/index.js";
import { requireScope } from "../auth.js";
import { route, type ApiContext } from "../context.js";
import { agentIdString } from "../route.js";
import { agentIdParam, isoSeconds } from "../wire.js";

const idParams = z.object({ id: agentIdString });
/** Edges that run lifecycle hooks are not reported; they go through the lifecycle routes. */
const HOOKED: readonly AgentState[] = ["Initializing", "Terminating", "Terminated", "Created"];

const reportedState = z
  .string()
  .min(1)
  .max(32)
  .transform((s, c) => {
    const hit = AGENT_STATES.find((st) => st.toLowerCase() === s.toLowerCase());
    if (!hit) c.addIssue({ code: "custom", message: `expected one of ${AGENT_STATES.join(", ")}` });
    return hit as AgentState;
  });

export const heartbeatBodySchema = z
  .object({
    state: reportedState,
    metadata: z.record(z.string().min(1).max(128), z.string().max(4096)).optional(),
    last_result: z.unknown().optional(),
    resource_usage: z.object({ memory_bytes: z.number().int().min(0).max(2 ** 53 - 1), cpu_percent: z.number().min(0).max(100_000) }).strict().optional(),
  })
  .strict();

export const runEventBodySchema = z
  .object({ event_type: z.enum(["RunStarted", "RunCompleted", "RunFailed"]), payload: z.unknown().optional() })
  .strict();

export function agentReportRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { lifecycle } = ctx.runtime;
  const limit = ctx.runtime.config.api.message_body_limit;

  route(app, ctx, {
    method: "POST",
    url: "/agents/:id/heartbeat",
    tag: "agents",
    access: "key",
    summary: "Heartbeat from an agent running outside the runtime",
    params: idParams,
    body: heartbeatBodySchema,
    bodyLimit: limit,
    response: z.object({ agent_id: z.string().uuid(), state: agentStateSchema, received_at: z.string() }),
    handler: async ({ params, body, principal }) => {
      const id = agentIdParam(params.id);
      requireScope(principal, id);
      const current = await lifecycle.getAgentState(id);
      if (body.state !== current) {
        if (HOOKED.includes(body.state) || !canTransition(current, body.state)) {
          throw LifecycleError.invalidStateTransition(current, body.state, id);
        }
        await lifecycle.transition(id, body.state, "reported by heartbeat");
      }
      const report = ctx.activity.heartbeat(id, body.state, body);
      return { agent_id: id, state: await lifecycle.getAgentState(id), received_at: isoSeconds(report.last_seen) };
    },
  });

  route(app, ctx, {
    method: "POST",
    url: "/agents/:id/events",
    tag: "agents",
    access: "key",
    summary: "Run event (RunStarted, RunCompleted, RunFailed) from an agent running outside the runtime",
    params: idParams,
    body: runEventBodySchema,
    bodyLimit: limit,
    response: z.object({ agent_id: z.string().uuid(), event_type: z.string(), status: z.literal("recorded"), timestamp: z.string() }),
    handler: async ({ params, body, principal }) => {
      const id = agentIdParam(params.id);
      requireScope(principal, id);
      await lifecycle.getAgent(id);
      const report = ctx.activity.runEvent(id, body.event_type, body.payload);
      return { agent_id: id, event_type: body.event_type, status: "recorded" as const, timestamp: isoSeconds(report.last_seen) };
    },
  });
}
