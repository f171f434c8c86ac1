/**
 * Sandboxes as the orchestrator sees them (admin keys only): tier, backend, state, timestamps and the usage
 * measured from the sandbox itself (its cgroup or the container engine). Measuring costs a backend call per
 * sandbox (a `docker stats` for Tier1/2), so the list measures only when asked (`usage=true`); one sandbox is
 * always measured.
 */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { securityTierSchema } from "../../core/schemas.js";
import { AgentId, isUuid, SandboxId } from "../../core/ids.js";
import type { SandboxStatus, SandboxUsage } from "../../sandbox/types.js";
import { route, type ApiContext } from "../context.js";
import { pageOf, pageQueryFields, timeKey } from "../paging.js";
import { agentIdString } from "../route.js";

/** States a listed sandbox can be in (the list leaves destroyed ones out). */
const LIVE_STATES = ["Created", "Starting", "Running", "Stopped", "Failed"] as const;
const SANDBOX_STATES = [...LIVE_STATES, "Destroyed"] as const;
const MEASURABLE: readonly SandboxStatus["state"][] = ["Created", "Running", "Stopped"];

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

const usageWire = z.object({
  memory_bytes: z.number().int(),
  memory_limit_bytes: z.number().int(),
  cpu_time_ms: z.number(),
  pids: z.number().int(),
  io_read_bytes: z.number().int().nullable(),
  io_write_bytes: z.number().int().nullable(),
  net_rx_bytes: z.number().int().nullable(),
  net_tx_bytes: z.number().int().nullable(),
  measured_at: z.string(),
});

export const sandboxWire = z.object({
  id: z.string().uuid(),
  agent_id: z.string().uuid(),
  tier: securityTierSchema,
  backend: z.string(),
  state: z.enum(SANDBOX_STATES),
  created_at: z.string(),
  started_at: z.string().nullable(),
  stopped_at: z.string().nullable(),
  destroyed_at: z.string().nullable(),
  error: z.string().nullable(),
  isolation: z.string().nullable().describe("how the tier isolates on this host when that varies"),
  resource_usage: usageWire.nullable().describe("measured now; null when not asked for or the sandbox is not live"),
});

const listQuery = z
  .object({
    agent_id: agentIdString.optional(),
    state: z.enum(LIVE_STATES).optional(),
    usage: z.enum(["true", "false"]).default("false").describe("measure each listed sandbox"),
    ...pageQueryFields,
  })
  .strict();

function usageOf(u: SandboxUsage): z.infer<typeof usageWire> {
  return {
    memory_bytes: u.memory_bytes,
    memory_limit_bytes: u.memory_limit_bytes,
    cpu_time_ms: u.cpu_time_ms,
    pids: u.pids,
    io_read_bytes: u.io_read_bytes ?? null,
    io_write_bytes: u.io_write_bytes ?? null,
    net_rx_bytes: u.net_rx_bytes ?? null,
    net_tx_bytes: u.net_tx_bytes ?? null,
    measured_at: new Date(u.measured_at).toISOString(),
  };
}

function toWire(s: SandboxStatus, usage: SandboxUsage | undefined): z.infer<typeof sandboxWire> {
  return {
    id: s.id,
    agent_id: s.agent_id,
    tier: s.tier,
    backend: s.backend,
    state: s.state,
    created_at: new Date(s.created_at).toISOString(),
    started_at: iso(s.started_at),
    stopped_at: iso(s.stopped_at),
    destroyed_at: iso(s.destroyed_at),
    error: s.error ?? null,
    isolation: s.isolation ?? null,
    resource_usage: usage ? usageOf(usage) : null,
  };
}

export function sandboxRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { sandboxes, logger } = ctx.runtime;

  /** A sandbox that stops or fails between listing and measuring simply has no usage to show. */
  async function measure(s: SandboxStatus): Promise<SandboxUsage | undefined> {
    if (!MEASURABLE.includes(s.state)) return undefined;
    try {
      return await sandboxes.getSandboxUsage(s.id);
    } catch (err) {
      logger.debug({ err, sandbox_id: s.id }, "sandbox usage not measured");
      return undefined;
    }
  }

  route(app, ctx, {
    method: "GET",
    url: "/sandboxes",
    tag: "sandboxes",
    access: "admin",
    summary: "Sandboxes not yet destroyed, oldest first (paged); usage=true measures each one",
    query: listQuery,
    response: z.object({ sandboxes: z.array(sandboxWire), next_cursor: z.string().nullable() }),
    handler: async ({ query }) => {
      const all = await sandboxes.listSandboxes(query.agent_id !== undefined ? { agent_id: AgentId.parse(query.agent_id) } : {});
      const matching = query.state === undefined ? all : all.filter((s) => s.state === query.state);
      const page = pageOf(matching, (s) => timeKey(s.created_at, s.id), query.limit, query.cursor);
      const usage = query.usage === "true" ? await Promise.all(page.items.map(measure)) : [];
      return { sandboxes: page.items.map((s, i) => toWire(s, usage[i])), next_cursor: page.next_cursor };
    },
  });

  route(app, ctx, {
    method: "GET",
    url: "/sandboxes/:id",
    tag: "sandboxes",
    access: "admin",
    summary: "One sandbox (destroyed ones stay readable for a while) with its usage measured now",
    params: z.object({ id: z.string().refine(isUuid, "expected a UUID") }),
    response: sandboxWire,
    handler: async ({ params }) => {
      const status = await sandboxes.getSandboxStatus(SandboxId.parse(params.id));
      return toWire(status, await measure(status));
    },
  });
}
