import { z } from "zod";

/** Policy engine settings. */
export const policyConfigSchema = z
  .object({
    enabled: z.boolean().default(true),
  })
  .strict();

export type PolicyConfig = z.output<typeof policyConfigSchema>;
