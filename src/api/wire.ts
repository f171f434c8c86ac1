/**
 * Wire shapes shared with the Symbiont management API and its JS SDK, and their mapping to the runtime's
 * types: `execution_mode` as "Persistent" | ... | {"Scheduled": {"interval": {secs, nanos}}} |
 * {"CronScheduled": {cron_expression, timezone}}, capabilities as plain strings, partial resource limits.
 */
import { Cron } from "croner";
import { z } from "zod";
import { ValidationError } from "../core/errors.js";
import { AgentId } from "../core/ids.js";
import { capabilitySchema, DEFAULT_RESOURCE_LIMITS, entrypointSchema, prioritySchema, resourceLimitsSchema, securityTierSchema } from "../core/schemas.js";
import type { Capability, ExecutionMode } from "../core/types.js";
import { ApiError } from "../core/errors.js";

const MAX_INTERVAL_SECS = 10 * 365 * 24 * 3600;

export const executionModeWireSchema = z.union([
  z.enum(["Persistent", "Ephemeral", "EventDriven"]),
  z
    .object({
      Scheduled: z
        .object({
          interval: z.object({ secs: z.number().int().min(0).max(MAX_INTERVAL_SECS), nanos: z.number().int().min(0).max(999_999_999) }).strict(),
        })
        .strict(),
    })
    .strict(),
  z
    .object({
      CronScheduled: z
        .object({ cron_expression: z.string().min(1).max(256), timezone: z.string().min(1).max(64).default("UTC") })
        .strict(),
    })
    .strict(),
]);

export type ExecutionModeWire = z.output<typeof executionModeWireSchema>;

/** A capability as the SDK sends it ("Network", "gpu") or as we print it ({"Custom": "gpu"}). */
export const capabilityWireSchema = z.union([z.string().min(1).max(128), capabilitySchema]);

const metadataWire = z.record(z.string().min(1).max(128), z.string().max(4096));

/** `POST /agents`: the SDK's CreateAgentRequest plus our optional fields. */
export const createAgentBodySchema = z
  .object({
    name: z.string().trim().min(1).max(128),
    dsl: z.string().max(1024 * 1024).optional(),
    execution_mode: executionModeWireSchema.optional(),
    capabilities: z.array(capabilityWireSchema).max(64).optional(),
    metadata: metadataWire.optional(),
    security_tier: securityTierSchema.optional(),
    resource_limits: resourceLimitsSchema.partial().optional(),
    entrypoint: entrypointSchema.optional(),
    priority: prioritySchema.optional(),
  })
  .strict();

/** `PUT /agents/{id}`: any subset of the create fields. */
export const updateAgentBodySchema = createAgentBodySchema.partial().strict();

export type CreateAgentBody = z.output<typeof createAgentBodySchema>;
export type UpdateAgentBody = z.output<typeof updateAgentBodySchema>;

function toCapability(c: z.output<typeof capabilityWireSchema>): Capability {
  if (typeof c !== "string") return c;
  if (c === "FileSystem" || c === "Network" || c === "Database") return c;
  const m = /^Custom\((.+)\)$/.exec(c);
  return { Custom: m ? (m[1] as string) : c };
}

/** Validates a cron expression (6 or 7 fields: seconds first, optional year) and its timezone. */
function cronMode(cron: string, timezone: string, now: number): ExecutionMode {
  const fields = cron.trim().split(/\s+/).length;
  if (fields < 6 || fields > 7) {
    throw new ValidationError("execution_mode", [{ path: "execution_mode.CronScheduled.cron_expression", message: "expected 6 fields (seconds first) or 7 (with year)" }]);
  }
  let runs: Date[];
  try {
    const job = new Cron(cron, { timezone, paused: true });
    runs = job.nextRuns(2);
    job.stop();
  } catch (err) {
    throw new ValidationError("execution_mode", [{ path: "execution_mode.CronScheduled", message: (err as Error).message }]);
  }
  const [first, second] = runs.map((d) => d.getTime());
  if (first === undefined) {
    throw new ValidationError("execution_mode", [{ path: "execution_mode.CronScheduled.cron_expression", message: "never fires" }]);
  }
  // `interval` is the gap between the first two runs; the scheduler follows `cron` itself.
  const interval = Math.max(1, second !== undefined ? second - first : first - now);
  return { type: "Scheduled", interval, cron, timezone };
}

export function toExecutionMode(wire: ExecutionModeWire, now: number): ExecutionMode {
  if (typeof wire === "string") return { type: wire };
  if ("Scheduled" in wire) {
    const { secs, nanos } = wire.Scheduled.interval;
    const interval = secs * 1000 + Math.floor(nanos / 1e6);
    if (interval < 1) {
      throw new ValidationError("execution_mode", [{ path: "execution_mode.Scheduled.interval", message: "must be at least 1 ms" }]);
    }
    return { type: "Scheduled", interval };
  }
  return cronMode(wire.CronScheduled.cron_expression, wire.CronScheduled.timezone, now);
}

export function fromExecutionMode(mode: ExecutionMode): ExecutionModeWire {
  if (mode.type !== "Scheduled") return mode.type;
  if (mode.cron) return { CronScheduled: { cron_expression: mode.cron, timezone: mode.timezone ?? "UTC" } };
  return { Scheduled: { interval: { secs: Math.floor(mode.interval / 1000), nanos: (mode.interval % 1000) * 1e6 } } };
}

/** The AgentConfig input (for `parseAgentConfig`) a create or update body describes. */
export function agentConfigInput(body: UpdateAgentBody, now: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (body.name !== undefined) out.name = body.name;
  if (body.dsl !== undefined) out.dsl_source = body.dsl;
  if (body.execution_mode !== undefined) out.execution_mode = toExecutionMode(body.execution_mode, now);
  if (body.capabilities !== undefined) out.capabilities = body.capabilities.map(toCapability);
  if (body.metadata !== undefined) out.metadata = body.metadata;
  if (body.security_tier !== undefined) out.security_tier = body.security_tier;
  if (body.resource_limits !== undefined) out.resource_limits = { ...DEFAULT_RESOURCE_LIMITS, ...body.resource_limits };
  if (body.entrypoint !== undefined) out.entrypoint = body.entrypoint;
  if (body.priority !== undefined) out.priority = body.priority;
  return out;
}

export function capabilityWire(c: Capability): string {
  return typeof c === "string" ? c : c.Custom;
}


/** Parses a path id as an agent id, answering 400 INVALID_AGENT_ID otherwise. */
export function agentIdParam(text: string): AgentId {
  if (!AgentId.is(text)) {
    throw new ApiError("INVALID_AGENT_ID", `Invalid agent id: expected a UUID, got ${JSON.stringify(text.slice(0, 64))}`, { details: { agent_id: text.slice(0, 64) } });
  }
  return AgentId.parse(text);
}

/** ISO-8601 with seconds, as the spec's examples write timestamps. */
export function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}
