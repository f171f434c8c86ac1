import { describe, expect, it } from "vitest";
import { SchedulerError } from "../core/errors.js";
import { parseAgentConfig } from "../core/schemas.js";
import { makeRuntime, settle, startAgent } from "../../test/helpers/execution.js";
import { parseSchedule } from "./agent-schedules.js";

describe("schedules - Scheduled execution mode", () => {
  it("an interval schedule fires N times over N intervals of fake time", async () => {
    const { runtime, clock } = await makeRuntime();
    const fired: unknown[] = [];
    await startAgent(runtime, { execution_mode: { type: "Scheduled", interval: 60_000 } }, { onTask: (input) => void fired.push(input) });
    await clock.advance(59_999);
    await settle();
    expect(fired).toHaveLength(0);
    await clock.advance(1);
    await settle();
    expect(fired).toHaveLength(1);
    for (let i = 0; i < 4; i++) {
      await clock.advance(60_000);
      await settle();
    }
    expect(fired).toHaveLength(5);
    expect(fired[0]).toEqual({ scheduled_for: expect.any(Number) });
    await runtime.shutdown();
  });

  it("a cron schedule fires at the times it names (seconds field, timezone)", async () => {
    const { runtime, clock } = await makeRuntime();
    const fired: number[] = [];
    await startAgent(
      runtime,
      { execution_mode: { type: "Scheduled", interval: 1, cron: "*/15 * * * * *", timezone: "UTC" } },
      { onTask: (input) => void fired.push((input as { scheduled_for: number }).scheduled_for) },
    );
    await clock.advance(60_000);
    await settle();
    expect(fired).toHaveLength(4);
    expect(fired.map((t) => new Date(t).getUTCSeconds())).toEqual([15, 30, 45, 0]);
    await runtime.shutdown();
  });

  it("cron parsing errors are clear: CRON_INVALID naming the problem, and the agent does not initialize", async () => {
    const err = (() => {
      try {
        parseSchedule({ type: "Scheduled", interval: 1, cron: "61 * * * * *" });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(SchedulerError);
    expect(err).toMatchObject({ code: "CRON_INVALID", status: 400 });
    expect((err as Error).message).toMatch(/61 \* \* \* \* \*.*second/);
    expect(() => parseSchedule({ type: "Scheduled", interval: 1, cron: "every day" })).toThrow(/CronPattern|five, six, or seven/);
    expect(() => parseSchedule({ type: "Scheduled", interval: 1, cron: "0 * * * * *", timezone: "Mars/Olympus" })).toThrow(SchedulerError);

    const { runtime } = await makeRuntime();
    const agent = await runtime.lifecycle.createAgent(parseAgentConfig({ name: "bad", execution_mode: { type: "Scheduled", interval: 1, cron: "nope" } }));
    await expect(runtime.lifecycle.initializeAgent(agent.id)).rejects.toMatchObject({
      code: "INITIALIZATION_FAILED",
      message: expect.stringContaining("Invalid cron schedule"),
    });
    await runtime.shutdown();
  });

  for (const [policy, expected] of [
    ["RunOnce", 1],
    ["CatchUp", 3],
    ["Skip", 0],
  ] as const) {
    it(`missed runs while suspended follow missed_run_policy ${policy}`, async () => {
      const { runtime, clock, seen } = await makeRuntime({ scheduler: { missed_run_policy: policy } });
      let runs = 0;
      const id = await startAgent(runtime, { execution_mode: { type: "Scheduled", interval: 1_000 } }, { onTask: () => void runs++ });
      await runtime.lifecycle.suspendAgent(id);
      await clock.advance(3_000);
      await settle();
      expect(runs).toBe(0);
      await runtime.lifecycle.resumeAgent(id);
      await settle();
      expect(runs).toBe(expected);
      expect(seen.find((e) => e.type === "schedule.missed")).toMatchObject({ missed: 3, policy, enqueued: expected });
      await clock.advance(1_000);
      await settle();
      expect(runs).toBe(expected + 1);
      await runtime.shutdown();
    });
  }

  it("terminating the agent stops its schedule", async () => {
    const { runtime, clock } = await makeRuntime();
    let runs = 0;
    const id = await startAgent(runtime, { execution_mode: { type: "Scheduled", interval: 1_000 } }, { onTask: () => void runs++ });
    expect(runtime.schedules.nextFire(id)).toBe(clock.now() + 1_000);
    await runtime.lifecycle.terminateAgent(id);
    await clock.advance(5_000);
    await settle();
    expect(runs).toBe(0);
    expect(runtime.schedules.nextFire(id)).toBeUndefined();
    await runtime.shutdown();
  });
});
