import { z } from "zod";

/**
 * The spec's ResourceManagerConfig plus the knobs its behaviours need. Totals left unset are read from the
 * machine (memory, cores, free disk of the data dir). Durations in ms, percentages 0-100.
 */
export const resourcesConfigSchema = z
  .object({
    /** bytes; default: the machine's memory */
    total_memory: z.number().int().positive().optional(),
    /** default: the machine's cores */
    total_cpu_cores: z.number().int().positive().optional(),
    /** bytes; default: the free space of the data dir's filesystem at start */
    total_disk_space: z.number().int().positive().optional(),
    /** bytes/s */
    total_network_bandwidth: z.number().int().positive().default(125_000_000),
    /** Hand violations to the error handler as ResourceExhaustion (its strategy decides what happens). */
    enforcement_enabled: z.boolean().default(true),
    /** Raise the limits of an agent above its threshold stepwise, up to the ceiling, while the machine has room. */
    auto_scaling_enabled: z.boolean().default(false),
    /** Share of every total held back for the runtime itself. */
    resource_reservation_percentage: z.number().min(0).max(90).default(10),
    monitoring_interval: z.number().int().positive().default(5_000),
    /** Samples kept per agent (a ring buffer): 720 × 5 s = one hour. */
    history_size: z.number().int().min(2).max(100_000).default(720),
    /** Shortest window a cpu/io rate is measured over; a first reading waits this long for a second one. */
    rate_window: z.number().int().min(10).max(60_000).default(250),
    /** How far over a limit a measured rate must be before it is a violation (cpu quotas overshoot a little). */
    violation_tolerance_percentage: z.number().min(0).max(100).default(10),
    /** An alert re-arms once usage falls this many points below its threshold. */
    alert_hysteresis_percentage: z.number().min(0).max(50).default(5),
    /** Usage (percent of limit) above which auto-scaling acts, unless the agent's alert threshold says otherwise. */
    auto_scaling_threshold_percentage: z.number().positive().max(100).default(80),
    /** Each step raises a limit by this share of the agent's requested limit. */
    auto_scaling_step_percentage: z.number().positive().max(100).default(25),
    /** Ceiling: a limit is never scaled beyond this multiple of what the agent requested. */
    auto_scaling_max_factor: z.number().min(1).max(16).default(2),
  })
  .strict();

export type ResourcesConfig = z.output<typeof resourcesConfigSchema>;
