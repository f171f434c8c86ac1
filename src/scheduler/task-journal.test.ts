import { afterEach, describe, expect, it } from "vitest";
import { ManualClock } from "../core/clock.js";
import { resolveConfig, type RuntimeConfigInput } from "../core/config/index.js";
import { LifecycleError } from "../core/errors.js";
import { RuntimeEvents } from "../core/events.js";
import { AgentId, type TaskId } from "../core/ids.js";
import { silentLogger } from "../core/logger.js";
import { createSqliteStateStore } from "../store/sqlite-state-store.js";
import type { StateStore } from "../store/types.js";
import { ControlledRunner, FixedRetrySink } from "../../test/helpers/scheduler.js";
import { DefaultScheduler } from "./default-scheduler.js";
import { StoreTaskJournal } from "./task-journal.js";
import type { TaskFailureSink } from "./types.js";

let stores: StateStore[] = [];
afterEach(async () => {
  for (const s of stores) await s.close();
  stores = [];
});

const agent = AgentId.new();

async function durable(scheduler: RuntimeConfigInput["scheduler"] = {}, opts: { store?: StateStore; failures?: TaskFailureSink } = {}) {
  const store = opts.store ?? (await createSqliteStateStore({ file: ":memory:" }));
  if (!opts.store) stores.push(store);
  const clock = new ManualClock();
  const logger = silentLogger();
  const events = new RuntimeEvents(clock, logger);
  const runner = new ControlledRunner();
  const sched = new DefaultScheduler({
    config: resolveConfig({ scheduler: { aging_interval: 0, ...scheduler } }).scheduler,
    clock,
    events,
    logger,
    runner,
    journal: new StoreTaskJournal(store.tasks, "n1", clock),
    ...(opts.failures ? { failures: opts.failures } : {}),
  });
  return { store, clock, events, runner, scheduler: sched };
}

/** Lets group commits and the scheduler's follow-up work run. */
const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

describe("scheduler journal - tasks go through the state store", () => {
  it("a task is stored Pending when scheduleTask resolves, Running once started, Completed with its result before anyone hears of it", async () => {
    const { store, scheduler, runner, events } = await durable();
    const t = await scheduler.scheduleTask({ agent_id: agent, input: { n: 1 } });
    expect(await store.tasks.get(t.id)).toMatchObject({ status: "Pending", payload: { n: 1 }, attempts: 0 });
    await settle();
    expect(runner.live.has(t.id)).toBe(true);
    expect(await store.tasks.get(t.id)).toMatchObject({ status: "Running", attempts: 1, owner: "n1" });
    const storedAtAnnounce: unknown[] = [];
    events.on("task.finished", () => void store.tasks.get(t.id).then((s) => storedAtAnnounce.push(s?.status)));
    runner.finish(t.id, { answer: 42 });
    const status = await scheduler.waitForTask(t.id);
    expect(status).toMatchObject({ state: "Completed", result: { answer: 42 } });
    await settle();
    expect(storedAtAnnounce).toEqual(["Completed"]);
    expect(await store.tasks.get(t.id)).toMatchObject({ status: "Completed", result: { answer: 42 } });
  });

  it("failures, timeouts, retries and cancellations are stored with their error and attempt count", async () => {
    const { store, scheduler, runner, clock } = await durable({ retry_attempts: 1 }, { failures: new FixedRetrySink(500) });
    const t = await scheduler.scheduleTask({ agent_id: agent });
    await settle();
    runner.fail(t.id, new Error("boom"));
    await settle();
    expect(await store.tasks.get(t.id)).toMatchObject({ status: "Pending", retry_count: 1, scheduled_time: clock.now() + 500 });
    expect(JSON.parse((await store.tasks.get(t.id))?.error ?? "")).toMatchObject({ message: expect.stringContaining("boom") });
    await clock.advance(500);
    await settle();
    expect(await store.tasks.get(t.id)).toMatchObject({ status: "Running", attempts: 2 });
    runner.fail(t.id, new Error("again"));
    expect(await scheduler.waitForTask(t.id)).toMatchObject({ state: "Failed" });
    expect(await store.tasks.get(t.id)).toMatchObject({ status: "Failed", attempts: 2 });

    const slow = await scheduler.scheduleTask({ agent_id: agent, timeout: 1_000, retry_count: 1 });
    await settle();
    await clock.advance(1_000);
    await settle();
    expect(await store.tasks.get(slow.id)).toMatchObject({ status: "TimedOut" });
    expect(await scheduler.getTaskStatus(slow.id)).toMatchObject({ state: "TimedOut", error: { code: "TASK_TIMEOUT" } });

    await scheduler.pauseScheduling();
    const queued = await scheduler.scheduleTask({ agent_id: agent });
    await scheduler.updateTaskPriority(queued.id, "Critical");
    expect((await store.tasks.get(queued.id))?.priority).toBe("Critical");
    await scheduler.cancelTask(queued.id);
    expect((await store.tasks.get(queued.id))?.status).toBe("Cancelled");
  });

  it("a task that fails before it can start is stored Failed", async () => {
    const { store, scheduler, runner } = await durable();
    const gone = AgentId.new();
    runner.readinessOf.set(gone, LifecycleError.agentNotFound(gone));
    const t = await scheduler.scheduleTask({ agent_id: gone });
    expect(await scheduler.waitForTask(t.id)).toMatchObject({ state: "Failed", error: { code: "AGENT_NOT_FOUND" } });
    expect(await store.tasks.get(t.id)).toMatchObject({ status: "Failed" });
  });

  it("ids are de-duplicated against the store: a stored task is never accepted or run twice", async () => {
    const { store, scheduler, runner } = await durable();
    const t = await scheduler.scheduleTask({ agent_id: agent });
    await settle();
    runner.finish(t.id);
    await scheduler.waitForTask(t.id);

    const next = await durable({}, { store });
    await expect(next.scheduler.scheduleTask({ agent_id: agent, id: t.id })).rejects.toMatchObject({ code: "TASK_ALREADY_EXISTS" });
    expect(await next.scheduler.getTaskStatus(t.id)).toMatchObject({ state: "Completed" });
    expect(await next.scheduler.waitForTask(t.id)).toMatchObject({ state: "Completed" });
    expect(await next.scheduler.restore()).toBe(0);
    await settle();
    expect(next.runner.started).toEqual([]);
    await next.scheduler.shutdown();
  });

  it("a task another node claimed first is not run here", async () => {
    const { store, scheduler, runner } = await durable();
    await scheduler.pauseScheduling();
    const t = await scheduler.scheduleTask({ agent_id: agent });
    await store.tasks.claim(t.id, "n2", 1);
    const ended = scheduler.waitForTask(t.id);
    await scheduler.resumeScheduling();
    expect(await ended).toMatchObject({ state: "Cancelled", reason: "claimed by another node" });
    expect(runner.started).toEqual([]);
    expect(await scheduler.getTaskStatus(t.id)).toMatchObject({ state: "Running", executor_id: "n2" });
  });

  it("shutdown leaves queued and interrupted tasks for the next start, which restores them in priority order", async () => {
    const { store, scheduler, runner } = await durable({ max_concurrent_tasks: 1, worker_threads: 1 });
    const busy = await scheduler.scheduleTask({ agent_id: agent, input: "busy" });
    await settle();
    expect(runner.live.has(busy.id)).toBe(true);
    const ids: Record<string, TaskId> = {};
    for (const [input, priority] of [["low", "Low"], ["high", "High"], ["normal", "Normal"]] as const) {
      ids[input] = (await scheduler.scheduleTask({ agent_id: agent, input, priority })).id;
    }
    await scheduler.shutdown();
    expect(await store.tasks.countByStatus()).toMatchObject({ Pending: 3, Running: 1, Cancelled: 0 });

    // What store recovery does at start, then the new scheduler takes the pending tasks back.
    expect((await store.tasks.requeueRunning("n1", 2)).map((t) => t.id)).toEqual([busy.id]);
    const next = await durable({ max_concurrent_tasks: 1, worker_threads: 1, start_paused: true }, { store });
    expect(await next.scheduler.restore()).toBe(4);
    expect((await next.scheduler.listPendingTasks()).map((t) => t.input)).toEqual(["high", "busy", "normal", "low"]);
    next.runner.auto = (task) => task.input;
    const attempts = new Map<unknown, number>();
    next.events.on("task.started", (e) => attempts.set(e.task_id, e.attempt));
    await next.scheduler.resumeScheduling();
    for (const id of [busy.id, ...Object.values(ids)]) expect((await next.scheduler.waitForTask(id)).state).toBe("Completed");
    expect(next.runner.started.map((t) => t.input)).toEqual(["high", "busy", "normal", "low"]);
    expect(attempts.get(busy.id)).toBe(2);
    expect(attempts.get(ids.low)).toBe(1);
    expect(await store.tasks.get(busy.id)).toMatchObject({ status: "Completed", attempts: 2, result: "busy" });
    await next.scheduler.shutdown();
  });

  it("failover moves the stored task to the backup agent", async () => {
    const backup = AgentId.new();
    const sink: TaskFailureSink = {
      assertAccepting() {},
      admit() {},
      recordSuccess() {},
      handleTaskFailure: async () => ({ reassign_to: backup }),
    };
    const { store, scheduler, runner } = await durable({}, { failures: sink });
    const t = await scheduler.scheduleTask({ agent_id: agent });
    await settle();
    runner.fail(t.id, new Error("invalid"));
    await settle();
    expect(await store.tasks.get(t.id)).toMatchObject({ agent_id: backup, retry_count: 1 });
    runner.finish(t.id);
    await scheduler.waitForTask(t.id);
    expect(await store.tasks.get(t.id)).toMatchObject({ agent_id: backup, status: "Completed", attempts: 2 });
  });
});
