import { z } from "zod";

/** The spec's ErrorHandlerConfig. Durations in ms. */
export const errorHandlerConfigSchema = z
  .object({
    max_error_history: z.number().int().positive().default(1_000),
    error_aggregation_window: z.number().int().positive().default(60_000),
    escalation_threshold: z.number().int().positive().default(10),
    circuit_breaker_threshold: z.number().int().positive().default(5),
    circuit_breaker_timeout: z.number().int().positive().default(30_000),
    enable_auto_recovery: z.boolean().default(true),
    max_recovery_attempts: z.number().int().nonnegative().default(3),
    recovery_backoff_multiplier: z.number().min(1).default(2),
  })
  .strict();

export type ErrorHandlerConfig = z.output<typeof errorHandlerConfigSchema>;
