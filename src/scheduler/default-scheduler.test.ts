import { describe, expect, it } from "vitest";
import { SchedulerError } from "../core/errors.js";
import { AgentId, TaskId } from "../core/ids.js";
import type { Priority } from "../core/types.js";
import type { UsageProbe } from "./types.js";
import { ControlledRunner, FixedRetrySink, makeScheduler } from "../../test/helpers/scheduler.js";

const agent = AgentId.new();

describe("scheduler - ordering", () => {
  it("runs higher priorities first and FIFO within a priority", async () => {
    const { scheduler, runner } = makeScheduler({ max_concurrent_tasks: 1, worker_threads: 1, aging_interval: 0 });
    await scheduler.pauseScheduling();
    const order: [Priority, number][] = [["Low", 1], ["Normal", 1], ["High", 1], ["Low", 2], ["Critical", 1], ["High", 2], ["Normal", 2]];
    const ids = new Map<string, string>();
    for (const [p, n] of order) {
      const t = await scheduler.scheduleTask({ agent_id: agent, priority: p, input: `${p}${n}` });
      ids.set(t.id, `${p}${n}`);
    }
    runner.auto = (t) => t.input;
    await scheduler.resumeScheduling();
    await new Promise((r) => setTimeout(r, 10));
    expect(runner.started.map((t) => t.input)).toEqual(["Critical1", "High1", "High2", "Normal1", "Normal2", "Low1", "Low2"]);
  });

  it("with priority scheduling off, runs in arrival order", async () => {
    const { scheduler, runner } = makeScheduler({ max_concurrent_tasks: 1, worker_threads: 1, enable_priority_scheduling: false });
    await scheduler.pauseScheduling();
    for (const p of ["Low", "Critical", "Normal"] as const) await scheduler.scheduleTask({ agent_id: agent, priority: p, input: p });
    runner.auto = () => null;
    await scheduler.resumeScheduling();
    await new Promise((r) => setTimeout(r, 10));
    expect(runner.started.map((t) => t.input)).toEqual(["Low", "Critical", "Normal"]);
  });

  it("ages a waiting Low task past newer High ones", async () => {
    const { scheduler, runner, clock } = makeScheduler({ max_concurrent_tasks: 1, worker_threads: 1, aging_interval: 1_000 });
    const blocker = await scheduler.scheduleTask({ agent_id: agent, priority: "Critical" });
    const low = await scheduler.scheduleTask({ agent_id: agent, priority: "Low", input: "low" });
    await clock.advance(3_000); // Low has aged three levels: as urgent as Critical, and older
    await scheduler.scheduleTask({ agent_id: agent, priority: "High", input: "high" });
    runner.finish(blocker.id);
    await clock.advance(0);
    expect(runner.started[1]?.id).toBe(low.id);
  });

  it("update_task_priority moves a pending task", async () => {
    const { scheduler, runner } = makeScheduler({ max_concurrent_tasks: 1, worker_threads: 1, aging_interval: 0 });
    await scheduler.pauseScheduling();
    const a = await scheduler.scheduleTask({ agent_id: agent, priority: "Normal", input: "a" });
    await scheduler.scheduleTask({ agent_id: agent, priority: "High", input: "b" });
    await scheduler.updateTaskPriority(a.id, "Critical");
    runner.auto = () => null;
    await scheduler.resumeScheduling();
    await new Promise((r) => setTimeout(r, 10));
    expect(runner.started.map((t) => t.input)).toEqual(["a", "b"]);
    expect((await scheduler.listPendingTasks()).length).toBe(0);
    await expect(scheduler.updateTaskPriority(a.id, "Low")).rejects.toMatchObject({ code: "TASK_ALREADY_FINISHED" });
  });

  it("a future scheduled_time waits for its time", async () => {
    const { scheduler, runner, clock } = makeScheduler();
    const t = await scheduler.scheduleTask({ agent_id: agent, scheduled_time: clock.now() + 5_000 });
    await clock.advance(4_999);
    expect(runner.started).toHaveLength(0);
    expect((await scheduler.getTaskStatus(t.id)).state).toBe("Pending");
    expect((await scheduler.listPendingTasks()).map((x) => x.id)).toEqual([t.id]);
    await clock.advance(1);
    expect(runner.started.map((x) => x.id)).toEqual([t.id]);
    expect((await scheduler.getTaskStatus(t.id)).state).toBe("Running");
  });
});

describe("scheduler - bounds", () => {
  it("task_queue_size refuses more with QUEUE_FULL", async () => {
    const { scheduler } = makeScheduler({ task_queue_size: 3 });
    await scheduler.pauseScheduling();
    for (let i = 0; i < 3; i++) await scheduler.scheduleTask({ agent_id: agent });
    const err = await scheduler.scheduleTask({ agent_id: agent }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SchedulerError);
    expect(err).toMatchObject({ code: "QUEUE_FULL", status: 429 });
  });

  it("never runs more than max_concurrent_tasks of 1,000 tasks", async () => {
    const runner = new ControlledRunner();
    const { scheduler } = makeScheduler({ max_concurrent_tasks: 7, worker_threads: 3 }, { runner });
    const ids: TaskId[] = [];
    for (let i = 0; i < 1_000; i++) ids.push((await scheduler.scheduleTask({ agent_id: agent })).id);
    let finished = 0;
    while (finished < 1_000) {
      expect(runner.live.size).toBeLessThanOrEqual(7);
      expect((await scheduler.listRunningTasks()).length).toBe(runner.live.size);
      const batch = [...runner.live.keys()].slice(0, 1 + (finished % 5));
      for (const id of batch) runner.finish(id);
      finished += batch.length;
      await new Promise((r) => setImmediate(r));
    }
    expect(runner.maxLive).toBe(7);
    const m = await scheduler.getSchedulerMetrics();
    expect(m.completed).toBe(1_000);
    expect(m.running).toBe(0);
  });

  it("refuses a second task with a queued task's id, leaving the first queued", async () => {
    const { scheduler } = makeScheduler();
    await scheduler.pauseScheduling();
    const first = await scheduler.scheduleTask({ agent_id: agent, priority: "High" });
    await expect(scheduler.scheduleTask({ agent_id: agent, id: first.id })).rejects.toMatchObject({ code: "TASK_ALREADY_EXISTS" });
    expect(await scheduler.listPendingTasks()).toEqual([first]);
    expect(await scheduler.getTaskStatus(first.id)).toMatchObject({ state: "Pending" });
  });

  it("rejects malformed tasks naming each bad field", async () => {
    const { scheduler } = makeScheduler();
    const err = await scheduler
      .scheduleTask({ agent_id: "nope" as AgentId, priority: "Urgent" as Priority, timeout: -1 })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "VALIDATION_FAILED" });
    expect((err as SchedulerError).message).toMatch(/agent_id.*priority.*timeout/);
  });
});

describe("scheduler - timeouts, cancellation, pause", () => {
  it("a task past its timeout is aborted and TimedOut", async () => {
    const { scheduler, runner, clock, seen } = makeScheduler({ retry_attempts: 0 });
    const t = await scheduler.scheduleTask({ agent_id: agent, timeout: 1_000 });
    await clock.advance(999);
    expect(runner.live.has(t.id)).toBe(true);
    await clock.advance(1);
    expect(runner.live.has(t.id)).toBe(false);
    const status = await scheduler.getTaskStatus(t.id);
    expect(status).toMatchObject({ state: "TimedOut", error: { code: "TASK_TIMEOUT" } });
    expect(seen.find((e) => e.type === "task.finished")).toMatchObject({ state: "TimedOut", error_code: "TASK_TIMEOUT" });
  });

  it("cancel_task aborts a running task and resolves once it stopped", async () => {
    const { scheduler, runner } = makeScheduler();
    const t = await scheduler.scheduleTask({ agent_id: agent });
    const signal = runner.live.get(t.id)?.ctx.signal;
    await scheduler.cancelTask(t.id);
    expect(signal?.aborted).toBe(true);
    expect((await scheduler.getTaskStatus(t.id)).state).toBe("Cancelled");
    await expect(scheduler.cancelTask(t.id)).rejects.toMatchObject({ code: "TASK_ALREADY_FINISHED" });
    await expect(scheduler.cancelTask(TaskId.new())).rejects.toMatchObject({ code: "TASK_NOT_FOUND" });
  });

  it("cancel_task removes a pending task", async () => {
    const { scheduler, runner } = makeScheduler();
    await scheduler.pauseScheduling();
    const t = await scheduler.scheduleTask({ agent_id: agent });
    await scheduler.cancelTask(t.id);
    await scheduler.resumeScheduling();
    expect(runner.started).toHaveLength(0);
    expect((await scheduler.getSchedulerMetrics()).cancelled).toBe(1);
  });

  it("pause lets running tasks finish and starts nothing new until resume", async () => {
    const { scheduler, runner } = makeScheduler({ max_concurrent_tasks: 1, worker_threads: 1 });
    const a = await scheduler.scheduleTask({ agent_id: agent });
    const b = await scheduler.scheduleTask({ agent_id: agent });
    await scheduler.pauseScheduling();
    runner.finish(a.id);
    await new Promise((r) => setImmediate(r));
    expect((await scheduler.getTaskStatus(a.id)).state).toBe("Completed");
    expect((await scheduler.getTaskStatus(b.id)).state).toBe("Pending");
    expect((await scheduler.getSchedulerMetrics()).paused).toBe(true);
    await scheduler.resumeScheduling();
    expect(runner.live.has(b.id)).toBe(true);
  });

  it("a task for an agent that is not ready waits and starts when the agent changes state", async () => {
    const { scheduler, runner, events } = makeScheduler();
    runner.readinessOf.set(agent, "wait");
    const t = await scheduler.scheduleTask({ agent_id: agent });
    expect(runner.started).toHaveLength(0);
    expect((await scheduler.listPendingTasks()).map((x) => x.id)).toEqual([t.id]);
    runner.readinessOf.set(agent, "ready");
    events.emit("agent.state_changed", { agent_id: agent, from: "Suspended", to: "Running" });
    await new Promise((r) => setImmediate(r));
    expect(runner.started.map((x) => x.id)).toEqual([t.id]);
  });
});

describe("scheduler - retries", () => {
  it("retries after the sink's delay, up to retry_attempts, then fails", async () => {
    const sink = new FixedRetrySink(500);
    const { scheduler, runner, clock } = makeScheduler({ retry_attempts: 2 }, { failures: sink });
    const t = await scheduler.scheduleTask({ agent_id: agent });
    runner.fail(t.id, new Error("boom"));
    await clock.advance(0);
    expect(await scheduler.getTaskStatus(t.id)).toMatchObject({ state: "Retrying", attempt: 2 });
    await clock.advance(499);
    expect(runner.live.has(t.id)).toBe(false);
    await clock.advance(1);
    expect(runner.live.get(t.id)?.task.retry_count).toBe(1);
    runner.fail(t.id, new Error("boom"));
    await clock.advance(500);
    runner.fail(t.id, new Error("boom"));
    await clock.advance(0);
    expect(await scheduler.getTaskStatus(t.id)).toMatchObject({ state: "Failed", error: { code: "INTERNAL_ERROR" } });
    expect(sink.seen.map((s) => s.attempt)).toEqual([1, 2, 3]);
  });
});

describe("scheduler - load balancing", () => {
  async function distribution(strategy: "RoundRobin" | "LeastConnections" | "WeightedRoundRobin" | "ResourceBased", extra = {}, usage?: UsageProbe) {
    const runner = new ControlledRunner();
    return makeScheduler({ load_balancing_strategy: strategy, worker_threads: 3, max_concurrent_tasks: 30, ...extra }, { runner, ...(usage ? { usage } : {}) });
  }

  it("RoundRobin cycles through the slots", async () => {
    const { scheduler, runner } = await distribution("RoundRobin");
    for (let i = 0; i < 6; i++) await scheduler.scheduleTask({ agent_id: agent });
    expect(runner.executors).toEqual(["executor-0", "executor-1", "executor-2", "executor-0", "executor-1", "executor-2"]);
  });

  it("LeastConnections sends work to the slot with the fewest running tasks", async () => {
    const { scheduler, runner } = await distribution("LeastConnections");
    const first = [];
    for (let i = 0; i < 6; i++) first.push(await scheduler.scheduleTask({ agent_id: agent }));
    // Free two tasks on executor-1: the next two tasks both go there.
    const onOne = first.filter((_, i) => runner.executors[i] === "executor-1");
    for (const t of onOne) runner.finish(t.id);
    await new Promise((r) => setImmediate(r));
    await scheduler.scheduleTask({ agent_id: agent });
    await scheduler.scheduleTask({ agent_id: agent });
    expect(runner.executors.slice(6)).toEqual(["executor-1", "executor-1"]);
  });

  it("WeightedRoundRobin follows the weights", async () => {
    const { scheduler, runner } = await distribution("WeightedRoundRobin", { executor_weights: [3, 1, 1], max_concurrent_tasks: 300 });
    for (let i = 0; i < 50; i++) await scheduler.scheduleTask({ agent_id: agent });
    const count = (id: string) => runner.executors.filter((e) => e === id).length;
    expect([count("executor-0"), count("executor-1"), count("executor-2")]).toEqual([30, 10, 10]);
    // Smooth: the heavy slot never takes more than 3 in a row.
    expect(runner.executors.join(",")).not.toContain("executor-0,executor-0,executor-0,executor-0");
  });

  it("ResourceBased avoids the slot whose agents use the most measured resources", async () => {
    const heavy = AgentId.new();
    const light = AgentId.new();
    const usage = {
      usage: (id: AgentId) => ({ memory_used: id === heavy ? 2 ** 31 : 2 ** 20, cpu_usage: id === heavy ? 1.5 : 0.01, disk_io_rate: 0, network_io_rate: 0, uptime: 1 }),
    };
    const { scheduler, runner } = await distribution("ResourceBased", {}, usage);
    await scheduler.scheduleTask({ agent_id: heavy }); // executor-0 (all empty)
    await scheduler.scheduleTask({ agent_id: light }); // executor-1
    await scheduler.scheduleTask({ agent_id: light }); // executor-2
    for (let i = 0; i < 4; i++) await scheduler.scheduleTask({ agent_id: light });
    const onHeavySlot = runner.executors.slice(3).filter((e) => e === "executor-0").length;
    expect(runner.executors.slice(0, 3)).toEqual(["executor-0", "executor-1", "executor-2"]);
    expect(onHeavySlot).toBe(0);
  });

  it("an executor failing its health check leaves rotation and returns when it passes", async () => {
    const { scheduler, runner, clock, seen } = await distribution("RoundRobin", { health_check_interval: 1_000 });
    let sick = true;
    runner.probeResult = async (id) => !(sick && id === "executor-1");
    await clock.advance(1_000);
    expect(seen.some((e) => e.type === "scheduler.executor_unhealthy" && e.executor_id === "executor-1")).toBe(true);
    for (let i = 0; i < 6; i++) await scheduler.scheduleTask({ agent_id: agent });
    expect(runner.executors).not.toContain("executor-1");
    sick = false;
    await clock.advance(1_000);
    await scheduler.scheduleTask({ agent_id: agent });
    await scheduler.scheduleTask({ agent_id: agent });
    expect(runner.executors.slice(6)).toContain("executor-1");
    const m = await scheduler.getSchedulerMetrics();
    expect(m.executors.every((e) => e.healthy)).toBe(true);
  });
});

describe("scheduler - metrics and shutdown", () => {
  it("reports counts, wait and run times, throughput and per-priority figures", async () => {
    const { scheduler, runner, clock } = makeScheduler({ max_concurrent_tasks: 1, worker_threads: 1 });
    const a = await scheduler.scheduleTask({ agent_id: agent, priority: "High" });
    const b = await scheduler.scheduleTask({ agent_id: agent, priority: "Low" });
    await clock.advance(100);
    runner.finish(a.id);
    await clock.advance(300);
    runner.fail(b.id, new Error("x"));
    await clock.advance(0);
    const m = await scheduler.getSchedulerMetrics();
    expect(m).toMatchObject({ completed: 1, failed: 1, pending: 0, running: 0 });
    expect(m.avg_run_time).toBe(200);
    expect(m.p95_run_time).toBe(300);
    expect(m.p95_wait_time).toBe(100);
    expect(m.finished_by_priority).toMatchObject({ High: 1, Low: 1 });
    expect(m.throughput).toBeGreaterThan(0);
  });

  it("shutdown cancels running and pending tasks and refuses new ones", async () => {
    const { scheduler, runner } = makeScheduler({ max_concurrent_tasks: 1, worker_threads: 1 });
    const a = await scheduler.scheduleTask({ agent_id: agent });
    const b = await scheduler.scheduleTask({ agent_id: agent });
    await scheduler.shutdown();
    expect(runner.live.size).toBe(0);
    expect((await scheduler.getTaskStatus(a.id)).state).toBe("Cancelled");
    expect((await scheduler.getTaskStatus(b.id)).state).toBe("Cancelled");
    await expect(scheduler.scheduleTask({ agent_id: agent })).rejects.toMatchObject({ code: "RUNTIME_SHUT_DOWN" });
    await scheduler.shutdown();
  });
});
