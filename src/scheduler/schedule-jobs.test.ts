import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ManualClock } from "../core/clock.js";
import type { AgentId } from "../core/ids.js";
import { makeRuntime, settle, startAgent } from "../../test/helpers/execution.js";
import { rules } from "../../test/helpers/policy.js";

const EVERY_10S = "*/10 * * * * *";

/** Advances in 1 s steps so that each fire's task runs and settles before the next. */
async function tick(clock: ManualClock, seconds: number): Promise<void> {
  for (let i = 0; i < seconds; i++) {
    await clock.advance(1_000);
    await settle();
  }
}

describe("schedule jobs - lifecycle of a cron job", () => {
  it("fires its agent at the cron times, records each run and counts them", async () => {
    const { runtime, clock } = await makeRuntime();
    const inputs: unknown[] = [];
    const agent = await startAgent(runtime, {}, { onTask: (input) => void inputs.push(input) });
    const job = await runtime.scheduleJobs.create({ name: "tick", agent_id: agent, cron: EVERY_10S });
    expect(job).toMatchObject({ status: "Active", run_count: 0, timezone: "UTC", one_shot: false, policy_ids: [] });
    expect(job.next_run).toBe(Math.ceil((clock.now() + 1) / 10_000) * 10_000);
    await tick(clock, 30);
    expect(inputs).toHaveLength(3);
    expect(inputs[0]).toEqual({ schedule_id: job.id, schedule_name: "tick", scheduled_for: job.next_run });
    const now = runtime.scheduleJobs.get(job.id);
    expect(now).toMatchObject({ run_count: 3, failure_count: 0, status: "Active" });
    expect(now.last_run).toBe((job.next_run as number) + 20_000);
    const history = runtime.scheduleJobs.history(job.id, 10);
    expect(history.map((r) => r.status)).toEqual(["Succeeded", "Succeeded", "Succeeded"]);
    expect(history[0]?.scheduled_for).toBe(now.last_run);
    expect(history[0]).toMatchObject({ trigger: "schedule", error: null, execution_time_ms: 0 });
    expect(history[0]?.task_id).toBe(history[0]?.run_id);
    expect(runtime.scheduleJobs.history(job.id, 2)).toHaveLength(2);
    expect(runtime.scheduleJobs.nextRuns(job.id, 3)).toEqual([0, 1, 2].map((i) => (now.next_run as number) + i * 10_000));
    await runtime.shutdown();
  });

  it("pause stops firing, trigger runs it anyway, resume fires again; delete removes it", async () => {
    const { runtime, clock } = await makeRuntime();
    let runs = 0;
    const agent = await startAgent(runtime, {}, { onTask: () => void runs++ });
    const job = await runtime.scheduleJobs.create({ name: "p", agent_id: agent, cron: EVERY_10S, input: { x: 1 } });
    expect((await runtime.scheduleJobs.pause(job.id)).status).toBe("Paused");
    expect((await runtime.scheduleJobs.pause(job.id)).status).toBe("Paused");
    await tick(clock, 30);
    expect(runs).toBe(0);
    const manual = await runtime.scheduleJobs.trigger(job.id);
    expect(manual).toMatchObject({ trigger: "manual", status: "Running" });
    await settle();
    expect(runs).toBe(1);
    expect(runtime.scheduleJobs.history(job.id, 1)[0]).toMatchObject({ run_id: manual.run_id, status: "Succeeded" });
    const resumed = await runtime.scheduleJobs.resume(job.id);
    expect(resumed.status).toBe("Active");
    await tick(clock, 10);
    expect(runs).toBe(2);
    await runtime.scheduleJobs.remove(job.id);
    expect(() => runtime.scheduleJobs.get(job.id)).toThrow(expect.objectContaining({ code: "SCHEDULE_NOT_FOUND" }));
    expect(await runtime.store.schedules.get(job.id)).toBeUndefined();
    await tick(clock, 20);
    expect(runs).toBe(2);
    await runtime.shutdown();
  });

  it("refuses bad cron expressions, timezones, unknown agents and unknown policies", async () => {
    const { runtime } = await makeRuntime();
    const agent = await startAgent(runtime, {}, { onTask: () => null });
    for (const [cron, timezone] of [["*/5 * * * *", "UTC"], ["nonsense", "UTC"], ["0 0 12 * * *", "Mars/Olympus"], ["0 0 0 1 1 * 2020", "UTC"]] as const) {
      await expect(runtime.scheduleJobs.create({ name: "bad", agent_id: agent, cron, timezone }), cron).rejects.toMatchObject({ code: "CRON_INVALID" });
    }
    await expect(runtime.scheduleJobs.create({ name: "x", agent_id: "5b0e7f43-52c4-4a6a-9f43-1f1e2f3a4b5c" as AgentId, cron: EVERY_10S })).rejects.toMatchObject({ code: "AGENT_NOT_FOUND" });
    await expect(runtime.scheduleJobs.create({ name: "x", agent_id: agent, cron: EVERY_10S, policy_ids: ["nope"] })).rejects.toMatchObject({ code: "POLICY_NOT_FOUND" });
    expect(runtime.scheduleJobs.list()).toEqual([]);
    expect(await runtime.store.schedules.list()).toEqual([]);
    const year = await runtime.scheduleJobs.create({ name: "y", agent_id: agent, cron: "0 0 0 1 1 * 2099" });
    expect(new Date(year.next_run as number).toISOString()).toBe("2099-01-01T00:00:00.000Z");
    await runtime.shutdown();
  });
});

describe("schedule jobs - skipped, failed, dead-lettered and completed", () => {
  it("a fire time is Skipped while the previous run is still going or the agent is suspended", async () => {
    const { runtime, clock } = await makeRuntime();
    let release: () => void = () => undefined;
    const agent = await startAgent(runtime, {}, { onTask: () => new Promise<void>((r) => (release = r)) });
    const job = await runtime.scheduleJobs.create({ name: "slow", agent_id: agent, cron: EVERY_10S });
    await tick(clock, 20);
    expect(runtime.scheduleJobs.history(job.id, 10).map((r) => r.status)).toEqual(["Skipped", "Running"]);
    expect(runtime.scheduleJobs.history(job.id, 1)[0]?.error).toBe("the previous run is still in progress");
    release();
    await settle();
    await runtime.lifecycle.suspendAgent(agent);
    await tick(clock, 10);
    const [last] = runtime.scheduleJobs.history(job.id, 1);
    expect(last).toMatchObject({ status: "Skipped", error: `agent ${agent} is Suspended` });
    expect(runtime.scheduleJobs.get(job.id)).toMatchObject({ run_count: 1, status: "Active" });
    await runtime.shutdown();
  });

  it("failed runs are counted; schedule_dead_letter_after in a row dead-letter the job; resume clears the streak", async () => {
    const { runtime, clock } = await makeRuntime({ scheduler: { schedule_dead_letter_after: 2, retry_attempts: 0 } });
    let fail = true;
    const agent = await startAgent(runtime, {}, {
      onTask: () => {
        if (fail) throw new Error("boom");
        return "ok";
      },
    });
    const job = await runtime.scheduleJobs.create({ name: "flaky", agent_id: agent, cron: EVERY_10S });
    await tick(clock, 20);
    const dead = runtime.scheduleJobs.get(job.id);
    expect(dead).toMatchObject({ status: "DeadLetter", failure_count: 2, consecutive_failures: 2, next_run: null });
    expect(dead.status_reason).toContain("2 runs in a row failed");
    expect(runtime.scheduleJobs.history(job.id, 1)[0]).toMatchObject({ status: "Failed", error: expect.stringContaining("boom") });
    await tick(clock, 20);
    expect(runtime.scheduleJobs.get(job.id).run_count).toBe(2);
    await expect(runtime.scheduleJobs.pause(job.id)).rejects.toMatchObject({ code: "SCHEDULE_INVALID_STATE" });
    fail = false;
    expect(await runtime.scheduleJobs.resume(job.id)).toMatchObject({ status: "Active", consecutive_failures: 0, status_reason: null });
    await tick(clock, 10);
    expect(runtime.scheduleJobs.get(job.id)).toMatchObject({ run_count: 3, failure_count: 2, status: "Active" });
    await runtime.shutdown();
  });

  it("a one-shot job runs once and is Completed; terminating the agent fails its jobs", async () => {
    const { runtime, clock } = await makeRuntime();
    let runs = 0;
    const agent = await startAgent(runtime, {}, { onTask: () => void runs++ });
    const once = await runtime.scheduleJobs.create({ name: "once", agent_id: agent, cron: EVERY_10S, one_shot: true });
    expect(runtime.scheduleJobs.nextRuns(once.id, 5)).toHaveLength(1);
    const other = await runtime.scheduleJobs.create({ name: "other", agent_id: agent, cron: "0 0 * * * *" });
    await tick(clock, 30);
    expect(runs).toBe(1);
    expect(runtime.scheduleJobs.get(once.id)).toMatchObject({ status: "Completed", next_run: null, run_count: 1 });
    expect(runtime.scheduleJobs.nextRuns(once.id, 5)).toEqual([]);
    await expect(runtime.scheduleJobs.resume(once.id)).rejects.toMatchObject({ code: "SCHEDULE_INVALID_STATE" });
    await runtime.lifecycle.terminateAgent(agent);
    expect(runtime.scheduleJobs.get(other.id)).toMatchObject({ status: "Failed", status_reason: `agent ${agent} was terminated` });
    await expect(runtime.scheduleJobs.trigger(other.id)).rejects.toMatchObject({ code: "SCHEDULE_INVALID_STATE" });
    await runtime.shutdown();
  });

  it("a policy of the job that denies schedule.run skips the run", async () => {
    const { runtime, clock } = await makeRuntime();
    let runs = 0;
    const agent = await startAgent(runtime, {}, { onTask: () => void runs++ });
    await runtime.policy.updatePolicy(rules("no-night-runs", [{ effect: "deny", action: "schedule.run" }]));
    const job = await runtime.scheduleJobs.create({ name: "guarded", agent_id: agent, cron: EVERY_10S, policy_ids: ["no-night-runs"] });
    await tick(clock, 10);
    expect(runs).toBe(0);
    expect(runtime.scheduleJobs.history(job.id, 1)[0]).toMatchObject({ status: "Skipped", error: expect.stringContaining("policy no-night-runs denied the run") });
    await runtime.shutdown();
  });
});

describe("schedule jobs - persistence", () => {
  it("jobs survive a restart with their counters; fire times missed while down follow missed_run_policy", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "symbiont-jobs-"));
    const clock = new ManualClock();
    const config = { data_dir: dataDir, store: { kind: "sqlite" as const }, lifecycle: { enable_auto_recovery: false } };
    try {
      const first = await makeRuntime({ ...config, scheduler: { missed_run_policy: "Skip" } }, { clock });
      const agent = await startAgent(first.runtime, { execution_mode: { type: "Persistent" } }, { onTask: () => null });
      const job = await first.runtime.scheduleJobs.create({ name: "durable", agent_id: agent, cron: EVERY_10S, policy_ids: [], input: { k: "v" } });
      await tick(clock, 10);
      await first.runtime.scheduleJobs.pause(job.id);
      await first.runtime.scheduleJobs.resume(job.id);
      const paused = await first.runtime.scheduleJobs.create({ name: "kept-paused", agent_id: agent, cron: "0 0 * * * *", one_shot: true });
      await first.runtime.scheduleJobs.pause(paused.id);
      await first.runtime.shutdown();

      await clock.advance(60_000);
      const second = await makeRuntime({ ...config, scheduler: { missed_run_policy: "Skip" } }, { clock });
      const back = second.runtime.scheduleJobs.get(job.id);
      expect(back).toMatchObject({ name: "durable", agent_id: agent, cron: EVERY_10S, input: { k: "v" }, run_count: 1, status: "Active" });
      expect(back.next_run).toBeGreaterThan(clock.now());
      expect(second.runtime.scheduleJobs.get(paused.id)).toMatchObject({ status: "Paused", next_run: null, one_shot: true, run_count: 0 });
      expect(second.runtime.scheduleJobs.list().map((j) => j.name)).toEqual(["durable", "kept-paused"]);
      expect(second.runtime.scheduleJobs.history(job.id, 5)).toEqual([
        expect.objectContaining({ status: "Skipped", error: expect.stringMatching(/^\d+ fire time\(s\) missed while the runtime was down$/) }),
      ]);
      await second.runtime.shutdown();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
