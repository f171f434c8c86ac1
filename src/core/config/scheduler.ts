import { z } from "zod";

/** The spec's SchedulerConfig. Durations in ms. */
export const schedulerConfigSchema = z
  .object({
    max_concurrent_tasks: z.number().int().positive().default(100),
    task_timeout: z.number().int().positive().default(300_000),
    retry_attempts: z.number().int().nonnegative().default(3),
    load_balancing_strategy: z
      .enum(["RoundRobin", "LeastConnections", "ResourceBased", "WeightedRoundRobin"])
      .default("RoundRobin"),
    enable_priority_scheduling: z.boolean().default(true),
    task_queue_size: z.number().int().positive().default(10_000),
    worker_threads: z.number().int().positive().default(4),
    health_check_interval: z.number().int().positive().default(30_000),
  })
  .strict();

export type SchedulerConfig = z.output<typeof schedulerConfigSchema>;
