import { z } from "zod";

/** Sandbox orchestrator settings. Network is off and the root read-only unless a sandbox's config says otherwise. */
export const sandboxConfigSchema = z
  .object({
    default_tier: z.enum(["Tier0", "Tier1", "Tier2", "Tier3"]).default("Tier0"),
  })
  .strict();

export type SandboxSettings = z.output<typeof sandboxConfigSchema>;
