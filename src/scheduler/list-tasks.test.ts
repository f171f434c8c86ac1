import { describe, expect, it } from "vitest";
import { AgentId } from "../core/ids.js";
import { FixedRetrySink, makeScheduler } from "../../test/helpers/scheduler.js";

const a = AgentId.new();
const b = AgentId.new();

describe("scheduler - listTasks", () => {
  it("lists an agent's tasks newest first with their statuses, and pages with `before`", async () => {
    const { scheduler, runner } = makeScheduler({ max_concurrent_tasks: 1, worker_threads: 1 });
    runner.auto = (t) => ({ echoed: t.input });
    const first = await scheduler.scheduleTask({ agent_id: a, input: 1 });
    await scheduler.waitForTask(first.id);
    runner.auto = undefined;
    await scheduler.scheduleTask({ agent_id: b, input: "other agent" });
    const third = await scheduler.scheduleTask({ agent_id: a, input: 3 });
    const views = await scheduler.listTasks({ agent_id: a, limit: 10 });
    expect(views.map((v) => [v.task.id, v.status.state])).toEqual([
      [third.id, "Pending"],
      [first.id, "Completed"],
    ]);
    expect(views[1]?.status).toMatchObject({ state: "Completed", result: { echoed: 1 } });
    expect(views[0]?.order).toBeGreaterThan(views[1]?.order as number);
    const page = await scheduler.listTasks({ agent_id: a, limit: 1 });
    expect(page.map((v) => v.task.id)).toEqual([third.id]);
    const next = await scheduler.listTasks({ agent_id: a, limit: 1, before: page[0]?.order as number });
    expect(next.map((v) => v.task.id)).toEqual([first.id]);
    expect(await scheduler.listTasks({ agent_id: a, limit: 5, before: next[0]?.order as number })).toEqual([]);
    expect((await scheduler.listTasks({ limit: 10 })).map((v) => v.task.input)).toEqual([3, "other agent", 1]);
  });

  it("a retried task keeps its place (its acceptance order); finished tasks past the retention are gone", async () => {
    const { scheduler, runner, clock } = makeScheduler({ max_concurrent_tasks: 1, worker_threads: 1, finished_task_retention: 2, retry_attempts: 1 }, { failures: new FixedRetrySink(10) });
    const retried = await scheduler.scheduleTask({ agent_id: a, input: "r" });
    await clock.advance(0);
    const later = await scheduler.scheduleTask({ agent_id: a, input: "later" });
    runner.fail(retried.id, new Error("once"));
    await clock.advance(10);
    expect((await scheduler.listTasks({ agent_id: a, limit: 10 })).map((v) => v.task.input)).toEqual(["later", "r"]);
    runner.auto = () => "ok";
    for (const t of [...runner.live.keys()]) runner.finish(t);
    await scheduler.waitForTask(later.id);
    await scheduler.waitForTask(retried.id);
    for (let i = 0; i < 2; i++) await scheduler.waitForTask((await scheduler.scheduleTask({ agent_id: a, input: `n${i}` })).id);
    expect((await scheduler.listTasks({ agent_id: a, limit: 10 })).map((v) => v.task.input)).toEqual(["n1", "n0"]);
  });
});
