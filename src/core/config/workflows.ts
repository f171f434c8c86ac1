import { z } from "zod";

/** Workflow registry and engine. Durations in ms. */
export const workflowsConfigSchema = z
  .object({
    /** Directory of workflow files (*.yaml, *.yml, *.json); defaults to `<data_dir>/workflows`. */
    dir: z.string().min(1).optional(),
    /** Step timeout when a step sets none. */
    default_step_timeout: z.number().int().positive().default(300_000),
    /** Executions running at once; more are refused with QUEUE_FULL. */
    max_concurrent_executions: z.number().int().positive().default(100),
    /** Finished executions kept for polling. */
    retained_executions: z.number().int().positive().default(1_000),
  })
  .strict();

export type WorkflowsConfig = z.output<typeof workflowsConfigSchema>;
