import { z } from "zod";

/** The spec's ResourceManagerConfig. Totals left unset are read from the machine. Durations in ms. */
export const resourcesConfigSchema = z
  .object({
    /** bytes */
    total_memory: z.number().int().positive().optional(),
    total_cpu_cores: z.number().int().positive().optional(),
    /** bytes */
    total_disk_space: z.number().int().positive().optional(),
    /** bytes/s */
    total_network_bandwidth: z.number().int().positive().default(125_000_000),
    enforcement_enabled: z.boolean().default(true),
    auto_scaling_enabled: z.boolean().default(false),
    resource_reservation_percentage: z.number().min(0).max(90).default(10),
    monitoring_interval: z.number().int().positive().default(5_000),
  })
  .strict();

export type ResourcesConfig = z.output<typeof resourcesConfigSchema>;
