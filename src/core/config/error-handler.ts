import { z } from "zod";

/** The spec's ErrorHandlerConfig plus backoff jitter. Durations in ms. */
export const errorHandlerConfigSchema = z
  .object({
    /** Error records kept, system-wide and per agent (oldest dropped first). */
    max_error_history: z.number().int().positive().default(1_000),
    /** The window in which failures count towards the circuit breaker, escalation and recovery caps. */
    error_aggregation_window: z.number().int().positive().default(60_000),
    /** More errors than this within the window: `error.escalated` and the agent is suspended. */
    escalation_threshold: z.number().int().positive().default(10),
    /** This many failures within the window open the agent's circuit breaker. */
    circuit_breaker_threshold: z.number().int().positive().default(5),
    /** How long an open breaker stays open before it lets one trial task through (half-open). */
    circuit_breaker_timeout: z.number().int().positive().default(30_000),
    /** Off: Retry, Restart and Failover are decided and reported but not carried out. */
    enable_auto_recovery: z.boolean().default(true),
    /** Agent-level recoveries (Restart, Failover) per window; past it the agent is suspended instead. */
    max_recovery_attempts: z.number().int().nonnegative().default(3),
    /** Retry n waits backoff × multiplier^(n-1). */
    recovery_backoff_multiplier: z.number().min(1).default(2),
    /** Each backoff is moved by up to ± this fraction, at random, so retries of many tasks spread out. */
    backoff_jitter: z.number().min(0).max(1).default(0.1),
  })
  .strict();

export type ErrorHandlerConfig = z.output<typeof errorHandlerConfigSchema>;
