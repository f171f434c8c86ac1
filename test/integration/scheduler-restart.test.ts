/**
 * The scheduler across a runtime restart on a durable store (SQLite in a temp data dir, and PostgreSQL):
 * pending tasks come back in priority order, a task interrupted while running runs again with its attempt
 * counted, and a completed task is neither run nor accepted again.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { RuntimeConfigInput } from "../../src/core/config/index.js";
import type { TaskId } from "../../src/core/ids.js";
import { silentLogger } from "../../src/core/logger.js";
import { createRuntime, type Runtime } from "../../src/runtime.js";
import { agentConfig } from "../helpers/runtime.js";
import { dropSchemas, freshSchemaName, postgresRequirement, TEST_POSTGRES_URL } from "../helpers/postgres.js";

function start(store: RuntimeConfigInput["store"], dataDir: string, startPaused: boolean): Promise<Runtime> {
  return createRuntime({
    config: {
      data_dir: dataDir,
      log_level: "silent",
      store,
      audit: { enabled: false },
      policy: { store: "memory" },
      scheduler: { max_concurrent_tasks: 1, worker_threads: 1, aging_interval: 0, start_paused: startPaused },
    },
    logger: silentLogger(),
  });
}

async function restartKeepsTasks(store: RuntimeConfigInput["store"]): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), "symbiont-sched-restart-"));
  const first = await start(store, dataDir, false);
  const agent = await first.lifecycle.createAgent(agentConfig({ name: "worker", execution_mode: { type: "Persistent" } }));
  await first.lifecycle.initializeAgent(agent.id);
  await first.lifecycle.startAgent(agent.id);
  const ranFirst: unknown[] = [];
  first.executor.registerHandler(agent.id, {
    onTask: (input) => {
      ranFirst.push(input);
      // "busy" is still running when the runtime stops.
      return input === "busy" ? new Promise(() => undefined) : `did ${String(input)}`;
    },
  });
  const done = await first.scheduler.scheduleTask({ agent_id: agent.id, input: "done" });
  expect(await first.scheduler.waitForTask(done.id)).toMatchObject({ state: "Completed", result: "did done" });
  const busy = await first.scheduler.scheduleTask({ agent_id: agent.id, input: "busy" });
  const ids: Record<string, TaskId> = { busy: busy.id };
  for (const [input, priority] of [["low", "Low"], ["high", "High"], ["normal", "Normal"]] as const) {
    ids[input] = (await first.scheduler.scheduleTask({ agent_id: agent.id, input, priority })).id;
  }
  expect((await first.scheduler.getTaskStatus(busy.id)).state).toBe("Running");
  await first.shutdown();
  expect(ranFirst).toEqual(["done", "busy"]);

  const second = await start(store, dataDir, true);
  try {
    expect(second.recovery.tasks_requeued).toBe(1);
    expect(second.recovery.tasks_restored).toBe(4);
    expect((await second.scheduler.listPendingTasks()).map((t) => t.input)).toEqual(["high", "busy", "normal", "low"]);
    expect(await second.scheduler.getTaskStatus(done.id)).toMatchObject({ state: "Completed", result: "did done" });
    await expect(second.scheduler.scheduleTask({ agent_id: agent.id, id: done.id })).rejects.toMatchObject({ code: "TASK_ALREADY_EXISTS" });
    await expect(second.scheduler.scheduleTask({ agent_id: agent.id, id: busy.id })).rejects.toMatchObject({ code: "TASK_ALREADY_EXISTS" });

    const ranSecond: unknown[] = [];
    const attempts = new Map<string, number>();
    second.events.on("task.started", (e) => attempts.set(e.task_id, e.attempt));
    second.executor.registerHandler(agent.id, {
      onTask: (input) => {
        ranSecond.push(input);
        return `did ${String(input)}`;
      },
    });
    await second.scheduler.resumeScheduling();
    for (const id of Object.values(ids)) expect(await second.scheduler.waitForTask(id)).toMatchObject({ state: "Completed" });
    expect(ranSecond).toEqual(["high", "busy", "normal", "low"]);
    expect(attempts.get(busy.id)).toBe(2);
    expect(attempts.get(ids.high as string)).toBe(1);
    expect(await second.store.tasks.get(busy.id)).toMatchObject({ status: "Completed", attempts: 2, result: "did busy" });
    expect(await second.store.tasks.countByStatus()).toMatchObject({ Completed: 5, Pending: 0, Running: 0 });
  } finally {
    await second.shutdown();
  }
}

describe("scheduler - restart on a durable store", () => {
  it("sqlite: pending tasks come back, the interrupted one re-runs with its attempt counted, the completed one never", async () => {
    await restartKeepsTasks({ kind: "sqlite" });
  }, 30_000);
});

const pg = await postgresRequirement();
const schemas: string[] = [];
afterAll(() => dropSchemas(schemas));

describe.skipIf(!pg.available)("scheduler - restart on PostgreSQL", () => {
  it("postgres: pending tasks come back, the interrupted one re-runs with its attempt counted, the completed one never", async () => {
    const schema = freshSchemaName();
    schemas.push(schema);
    await restartKeepsTasks({ kind: "postgres", postgres_url: TEST_POSTGRES_URL, postgres_schema: schema });
  }, 30_000);
});
