import { z } from "zod";

/**
 * The spec's SchedulerConfig plus the knobs its behaviour needs (aging, missed runs, retention, executor
 * weights). Durations in ms.
 */
export const schedulerConfigSchema = z
  .object({
    /** Tasks running at once, across every executor slot. */
    max_concurrent_tasks: z.number().int().positive().default(100),
    /** Timeout of a task that does not set its own. */
    task_timeout: z.number().int().positive().default(300_000),
    /** Retries of one task at most, whatever the error handler's strategy allows. */
    retry_attempts: z.number().int().nonnegative().default(3),
    load_balancing_strategy: z
      .enum(["RoundRobin", "LeastConnections", "ResourceBased", "WeightedRoundRobin"])
      .default("RoundRobin"),
    /** Off: one FIFO queue, priorities ignored. */
    enable_priority_scheduling: z.boolean().default(true),
    /** Pending tasks (queued, delayed or waiting on their agent) at most; more → QUEUE_FULL. */
    task_queue_size: z.number().int().positive().default(10_000),
    /** Executor slots tasks are balanced across; each runs up to max_concurrent_tasks / worker_threads. */
    worker_threads: z.number().int().positive().default(4),
    /** How often each executor slot is probed; a failing slot leaves rotation until a probe passes. */
    health_check_interval: z.number().int().positive().default(30_000),
    /** A pending task gains one priority level per this many ms of waiting (0 = no aging). */
    aging_interval: z.number().int().nonnegative().default(60_000),
    /** Relative weights of the executor slots for WeightedRoundRobin (missing entries weigh 1). */
    executor_weights: z.array(z.number().int().positive()).max(1024).default([]),
    /** Finished tasks whose status stays queryable. */
    finished_task_retention: z.number().int().positive().default(10_000),
    /**
     * What a Scheduled agent does with fire times it missed (the agent was suspended, the process stalled):
     * RunOnce enqueues one task for all of them, CatchUp one per missed time (up to max_catch_up_runs),
     * Skip none.
     */
    missed_run_policy: z.enum(["RunOnce", "CatchUp", "Skip"]).default("RunOnce"),
    max_catch_up_runs: z.number().int().positive().default(10),
    /** Agent protocol: the longest line an agent may write, in characters (longer ones are malformed). */
    agent_max_line_length: z.number().int().positive().default(1024 * 1024),
    /** How long an agent process asked to shut down gets before it is killed. */
    agent_shutdown_grace: z.number().int().nonnegative().default(2_000),
    /** Messages held for an agent that runs a fresh process per task, until its next task. */
    agent_inbox_size: z.number().int().positive().default(1_000),
    /** Consecutive failed runs after which a schedule job (`/schedules`) is dead-lettered: it stops until resumed. */
    schedule_dead_letter_after: z.number().int().positive().default(5),
    /** Runs of each schedule job kept for its history (newest). */
    schedule_run_history: z.number().int().positive().max(10_000).default(100),
    /**
     * Start with dispatch paused until `resume_scheduling`: tasks restored from a durable store wait while an
     * embedder registers its in-process handlers.
     */
    start_paused: z.boolean().default(false),
  })
  .strict();

export type SchedulerConfig = z.output<typeof schedulerConfigSchema>;
export type LoadBalancingStrategy = SchedulerConfig["load_balancing_strategy"];
export type MissedRunPolicy = SchedulerConfig["missed_run_policy"];
