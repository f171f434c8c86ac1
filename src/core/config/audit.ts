import { z } from "zod";

/** Audit trail settings. */
export const auditConfigSchema = z
  .object({
    enabled: z.boolean().default(true),
  })
  .strict();

export type AuditConfig = z.output<typeof auditConfigSchema>;
