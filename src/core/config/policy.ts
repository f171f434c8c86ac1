import { z } from "zod";

const maxLimitsSchema = z
  .object({
    memory_mb: z.number().int().positive(),
    cpu_cores: z.number().positive(),
    disk_io_mbps: z.number().int().nonnegative(),
    network_io_mbps: z.number().int().nonnegative(),
    execution_timeout: z.number().int().positive(),
    idle_timeout: z.number().int().nonnegative(),
  })
  .partial()
  .strict();

/** Policy engine settings. */
export const policyConfigSchema = z
  .object({
    /** When false the runtime falls back to the built-in default authorizer (deny network and mounts). */
    enabled: z.boolean().default(true),
    /** Where policies persist; defaults to the runtime's `store.kind`. `memory` keeps them for the process only. */
    store: z.enum(["memory", "sqlite", "postgres"]).optional(),
    /** PostgreSQL schema holding the policies table. */
    postgres_schema: z.string().regex(/^[a-z_][a-z0-9_]*$/).default("public"),
    /** Decision for operations no policy speaks to and that are not security-sensitive. */
    default_effect: z.enum(["allow", "deny"]).default("allow"),
    /** The sandbox workspace; file operations outside it are security-sensitive (denied unless allowed). */
    workspace_root: z.string().startsWith("/").default("/workspace"),
    /** The lowest tier at which an agent may hold the Network capability without an explicit allow. */
    network_min_tier: z.enum(["Tier0", "Tier1", "Tier2", "Tier3"]).default("Tier2"),
    /** Upper bounds on an agent's resource_limits, checked by validateAgentConfig. */
    max_limits: maxLimitsSchema.default({}),
    /** Metadata keys every agent must carry. */
    required_metadata: z.array(z.string().min(1)).default([]),
    /** Regular expressions metadata values must match, by key. */
    metadata_patterns: z
      .record(z.string().min(1), z.string())
      .refine((m) => Object.values(m).every((p) => { try { new RegExp(p); return true; } catch { return false; } }), {
        message: "every pattern must be a valid regular expression",
      })
      .default({}),
    /** Action names Cedar policies may name beyond the runtime's own. */
    extra_actions: z.array(z.string().regex(/^[A-Za-z0-9_.-]+$/)).default([]),
  })
  .strict();

export type PolicyConfig = z.output<typeof policyConfigSchema>;
