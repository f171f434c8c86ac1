import { z } from "zod";

/** The spec's HttpApiConfig plus auth and limits. */
export const apiConfigSchema = z
  .object({
    enabled: z.boolean().default(true),
    bind_address: z.string().min(1).default("127.0.0.1"),
    port: z.number().int().min(0).max(65_535).default(8080),
    enable_cors: z.boolean().default(false),
    cors_origins: z.array(z.string()).default([]),
    enable_tracing: z.boolean().default(false),
    /** Off only with --insecure-no-auth on a loopback bind. */
    auth_required: z.boolean().default(true),
  })
  .strict();

export type ApiConfig = z.output<typeof apiConfigSchema>;
