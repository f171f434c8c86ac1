/**
 * Test fixtures for the scheduler: a runner whose tasks finish when the test says so, and a scheduler on a
 * manual clock. (Test doubles of the scheduler's collaborators, for unit tests only.)
 */
import { ManualClock } from "../../src/core/clock.js";
import { resolveConfig, type RuntimeConfigInput } from "../../src/core/config/index.js";
import { RuntimeEvents, type RuntimeEvent } from "../../src/core/events.js";
import type { RuntimeError } from "../../src/core/errors.js";
import type { AgentId, TaskId } from "../../src/core/ids.js";
import { silentLogger } from "../../src/core/logger.js";
import { DefaultScheduler } from "../../src/scheduler/default-scheduler.js";
import type { Readiness, ScheduledTask, TaskContext, TaskFailureSink, TaskRunner, UsageProbe } from "../../src/scheduler/types.js";

interface Pending {
  readonly task: ScheduledTask;
  readonly ctx: TaskContext;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

/** Tasks run until `finish`/`fail` is called; an abort rejects at once. Records order and concurrency. */
export class ControlledRunner implements TaskRunner {
  readonly started: ScheduledTask[] = [];
  readonly executors: string[] = [];
  readonly live = new Map<TaskId, Pending>();
  maxLive = 0;
  readinessOf = new Map<AgentId, Readiness>();
  /** When set, every task settles by itself with this outcome. */
  auto: ((task: ScheduledTask) => unknown) | undefined;
  probeResult: (executorId: string) => Promise<boolean> = async () => true;

  readiness(agentId: AgentId): Readiness {
    return this.readinessOf.get(agentId) ?? "ready";
  }

  run(task: ScheduledTask, ctx: TaskContext): Promise<unknown> {
    this.started.push(task);
    this.executors.push(ctx.executor_id);
    if (this.auto) {
      const auto = this.auto;
      return Promise.resolve().then(() => auto(task));
    }
    return new Promise((resolve, reject) => {
      this.live.set(task.id, { task, ctx, resolve, reject });
      this.maxLive = Math.max(this.maxLive, this.live.size);
      ctx.signal.addEventListener("abort", () => {
        this.live.delete(task.id);
        reject(ctx.signal.reason);
      });
    });
  }

  finish(id: TaskId, value: unknown = "ok"): void {
    const p = this.live.get(id);
    if (!p) throw new Error(`task ${id} is not running`);
    this.live.delete(id);
    p.resolve(value);
  }

  fail(id: TaskId, err: unknown): void {
    const p = this.live.get(id);
    if (!p) throw new Error(`task ${id} is not running`);
    this.live.delete(id);
    p.reject(err);
  }

  probe(executorId: string): Promise<boolean> {
    return this.probeResult(executorId);
  }
}

/** A failure sink that retries after a fixed delay, recording what it saw. */
export class FixedRetrySink implements TaskFailureSink {
  readonly seen: { task: ScheduledTask; error: RuntimeError; attempt: number }[] = [];
  constructor(readonly delay: number | undefined) {}
  assertAccepting(): void {}
  admit(): void {}
  recordSuccess(): void {}
  async handleTaskFailure(task: ScheduledTask, error: RuntimeError, attempt: number) {
    this.seen.push({ task, error, attempt });
    return this.delay === undefined ? {} : { retry_after_ms: this.delay };
  }
}

export function makeScheduler(
  scheduler: RuntimeConfigInput["scheduler"] = {},
  opts: { runner?: ControlledRunner; failures?: TaskFailureSink; usage?: UsageProbe } = {},
) {
  const clock = new ManualClock();
  const logger = silentLogger();
  const events = new RuntimeEvents(clock, logger);
  const seen: RuntimeEvent[] = [];
  events.onAny((e) => seen.push(e));
  const runner = opts.runner ?? new ControlledRunner();
  const config = resolveConfig({ scheduler }).scheduler;
  const sched = new DefaultScheduler({
    config,
    clock,
    events,
    logger,
    runner,
    ...(opts.failures ? { failures: opts.failures } : {}),
    ...(opts.usage ? { usage: opts.usage } : {}),
  });
  return { clock, events, seen, runner, scheduler: sched };
}
