/**
 * zod schemas for the core types that cross a boundary (API bodies, config files, DSL extraction).
 * `parseAgentConfig` is the one way an AgentConfig enters the runtime.
 */
import { z } from "zod";
import { AgentId } from "./ids.js";
import type { AgentConfig } from "./types.js";
import { parseConfig } from "./validation.js";

/** Bounds that keep one agent's description from becoming a resource problem of its own. */
export const AGENT_LIMITS = {
  nameMaxLength: 128,
  metadataMaxEntries: 64,
  metadataKeyMaxLength: 128,
  metadataValueMaxLength: 4096,
  dslSourceMaxBytes: 1024 * 1024,
  capabilitiesMax: 64,
  policiesMax: 256,
} as const;

const duration = z.number().int().nonnegative();

export const agentStateSchema = z.enum([
  "Created",
  "Initializing",
  "Ready",
  "Running",
  "Suspended",
  "Waiting",
  "Completed",
  "Failed",
  "Terminating",
  "Terminated",
]);
export const prioritySchema = z.enum(["Low", "Normal", "High", "Critical"]);
export const securityTierSchema = z.enum(["Tier0", "Tier1", "Tier2", "Tier3"]);
export const isolationLevelSchema = z.enum(["None", "Low", "Medium", "High", "Maximum"]);
export const encryptionAlgorithmSchema = z.enum(["Aes256Gcm", "ChaCha20Poly1305"]);

export const capabilitySchema = z.union([
  z.enum(["FileSystem", "Network", "Database"]),
  z.object({ Custom: z.string().min(1).max(128) }).strict(),
]);

export const executionModeSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("Persistent") }).strict(),
  z.object({ type: z.literal("Ephemeral") }).strict(),
  z
    .object({
      type: z.literal("Scheduled"),
      interval: z.number().int().positive(),
      cron: z.string().min(1).max(256).optional(),
      timezone: z.string().min(1).max(64).optional(),
    })
    .strict(),
  z.object({ type: z.literal("EventDriven") }).strict(),
]);

export const resourceLimitsSchema = z
  .object({
    memory_mb: z.number().int().positive().max(1024 * 1024),
    cpu_cores: z.number().positive().max(1024),
    disk_io_mbps: z.number().int().nonnegative(),
    network_io_mbps: z.number().int().nonnegative(),
    execution_timeout: duration.positive(),
    idle_timeout: duration,
  })
  .strict();

export const DEFAULT_RESOURCE_LIMITS = Object.freeze({
  memory_mb: 512,
  cpu_cores: 1,
  disk_io_mbps: 50,
  network_io_mbps: 10,
  execution_timeout: 3_600_000,
  idle_timeout: 300_000,
});

export const policyRuleSchema = z
  .object({
    effect: z.enum(["allow", "deny", "require", "audit"]),
    action: z.string().min(1).max(256),
    condition: z.string().max(4096).optional(),
    description: z.string().max(1024).optional(),
  })
  .strict();

export const policySchema = z
  .object({
    id: z.string().min(1).max(128),
    name: z.string().min(1).max(128),
    description: z.string().max(4096).default(""),
    rules: z.array(policyRuleSchema).max(1024).default([]),
    priority: z.number().int().nonnegative().default(0),
    enabled: z.boolean().default(true),
    cedar: z.string().max(256 * 1024).optional(),
  })
  .strict();

export const entrypointSchema = z
  .object({
    command: z.string().min(1).max(4096),
    args: z.array(z.string().max(64 * 1024)).max(1024).default([]),
  })
  .strict();

const metadataSchema = z
  .record(
    z.string().min(1).max(AGENT_LIMITS.metadataKeyMaxLength),
    z.string().max(AGENT_LIMITS.metadataValueMaxLength),
  )
  .refine((m) => Object.keys(m).length <= AGENT_LIMITS.metadataMaxEntries, {
    message: `at most ${AGENT_LIMITS.metadataMaxEntries} metadata entries`,
  });

/** An AgentConfig as a caller writes it: everything but `name` has a default. */
export const agentConfigSchema = z
  .object({
    id: z
      .string()
      .refine((s) => AgentId.is(s), { message: "expected a UUID" })
      .transform((s) => s.toLowerCase() as AgentId)
      .optional(),
    name: z.string().trim().min(1, "must not be empty").max(AGENT_LIMITS.nameMaxLength),
    dsl_source: z
      .string()
      .refine((s) => Buffer.byteLength(s) <= AGENT_LIMITS.dslSourceMaxBytes, {
        message: `at most ${AGENT_LIMITS.dslSourceMaxBytes} bytes`,
      })
      .default(""),
    execution_mode: executionModeSchema.default({ type: "Persistent" }),
    security_tier: securityTierSchema.default("Tier0"),
    resource_limits: resourceLimitsSchema.default(DEFAULT_RESOURCE_LIMITS),
    capabilities: z.array(capabilitySchema).max(AGENT_LIMITS.capabilitiesMax).default([]),
    policies: z.array(policySchema).max(AGENT_LIMITS.policiesMax).default([]),
    metadata: metadataSchema.default({}),
    priority: prioritySchema.default("Normal"),
    entrypoint: entrypointSchema.optional(),
  })
  .strict();

export type AgentConfigInput = z.input<typeof agentConfigSchema>;

/** Validates an AgentConfig from any source; mints an id when none is given. */
export function parseAgentConfig(input: unknown): AgentConfig {
  const parsed = parseConfig(agentConfigSchema, input, "AgentConfig");
  const { entrypoint, ...rest } = parsed;
  return Object.freeze({
    ...rest,
    id: parsed.id ?? AgentId.new(),
    ...(entrypoint ? { entrypoint } : {}),
  }) as AgentConfig;
}
