/**
 * Health probes (public), system status and the spec's JSON metrics.
 */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { ApiError } from "../../core/errors.js";
import { route, type ApiContext } from "../context.js";
import { isoSeconds } from "../wire.js";

/** The spec's `HealthResponse`. */
export const healthResponseSchema = z.object({
  status: z.enum(["healthy", "unhealthy"]),
  uptime_seconds: z.number().int(),
  timestamp: z.string(),
  version: z.string(),
});

export type HealthResponse = z.infer<typeof healthResponseSchema>;

export function healthRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { runtime } = ctx;
  const uptime = () => Math.floor((runtime.clock.now() - runtime.startedAt) / 1000);

  route(app, ctx, {
    method: "GET",
    url: "/health",
    tag: "health",
    access: "public",
    probe: true,
    summary: "Health, uptime and version (the spec's HealthResponse)",
    response: healthResponseSchema,
    handler: (): HealthResponse => ({
      status: runtime.isReady() ? "healthy" : "unhealthy",
      uptime_seconds: uptime(),
      timestamp: isoSeconds(runtime.clock.now()),
      version: runtime.version,
    }),
  });

  route(app, ctx, {
    method: "GET",
    url: "/health/live",
    tag: "health",
    access: "public",
    probe: true,
    summary: "Liveness: the process answers",
    response: z.object({ status: z.literal("alive") }),
    handler: () => ({ status: "alive" as const }),
  });

  route(app, ctx, {
    method: "GET",
    url: "/health/ready",
    tag: "health",
    access: "public",
    probe: true,
    summary: "Readiness: 200 once the runtime has started, 503 NOT_READY before and during shutdown",
    response: z.object({ status: z.literal("ready") }),
    handler: () => {
      if (!runtime.isReady()) throw new ApiError("NOT_READY", "The runtime is not ready");
      return { status: "ready" as const };
    },
  });

  route(app, ctx, {
    method: "GET",
    url: "/status",
    tag: "system",
    access: "key",
    summary: "Runtime status: agents by state, lifecycle totals, workflows running",
    response: z.object({
      status: z.enum(["ready", "not_ready"]),
      version: z.string(),
      uptime_seconds: z.number().int(),
      started_at: z.string(),
      agents: z.object({ total: z.number().int(), by_state: z.record(z.string(), z.number().int()) }),
      totals: z.object({ created: z.number().int(), terminated: z.number().int(), restarts: z.number().int(), errors: z.number().int(), executions: z.number().int() }),
      workflows: z.object({ registered: z.number().int(), running: z.number().int() }),
    }),
    handler: async () => {
      const s = await runtime.lifecycle.getSystemStatus();
      return {
        status: runtime.isReady() ? ("ready" as const) : ("not_ready" as const),
        version: runtime.version,
        uptime_seconds: uptime(),
        started_at: isoSeconds(runtime.startedAt),
        agents: { total: s.total_agents, by_state: { ...s.agents_by_state } },
        totals: { created: s.total_created, terminated: s.total_terminated, restarts: s.total_restarts, errors: s.total_errors, executions: s.total_executions },
        workflows: { registered: runtime.workflows.registry.list().length, running: runtime.workflows.running },
      };
    },
  });

  route(app, ctx, {
    method: "GET",
    url: "/metrics",
    tag: "system",
    access: "key",
    summary: "The spec's metrics: agents (running = Running or Waiting; stopped = the rest), host memory and CPU use in percent, messages per second and average HTTP response time over the last minute",
    response: z.object({
      agents: z.object({ total: z.number().int(), running: z.number().int(), stopped: z.number().int() }),
      system: z.object({ memory_usage: z.number(), cpu_usage: z.number(), uptime_seconds: z.number().int() }),
      performance: z.object({ messages_per_second: z.number(), avg_response_time_ms: z.number() }),
    }),
    handler: () => ctx.metrics.json(),
  });
}
