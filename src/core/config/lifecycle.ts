import { z } from "zod";

/** The spec's LifecycleConfig. Durations in ms. */
export const lifecycleConfigSchema = z
  .object({
    initialization_timeout: z.number().int().positive().default(30_000),
    termination_timeout: z.number().int().positive().default(10_000),
    /** How often Failed agents are checked for automatic recovery. */
    state_check_interval: z.number().int().positive().default(1_000),
    enable_auto_recovery: z.boolean().default(true),
    max_restart_attempts: z.number().int().nonnegative().default(3),
    max_agents: z.number().int().positive().default(10_000),
    /** First auto-recovery delay; doubles with each restart, capped by restart_backoff_max. */
    restart_backoff: z.number().int().nonnegative().default(1_000),
    restart_backoff_max: z.number().int().nonnegative().default(60_000),
  })
  .strict();

export type LifecycleConfig = z.output<typeof lifecycleConfigSchema>;
