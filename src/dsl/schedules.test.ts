import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { until } from "../../test/helpers/wait.js";
import { ManualClock } from "../core/clock.js";
import { isRuntimeError } from "../core/errors.js";
import { silentLogger } from "../core/logger.js";
import { createRuntime, type Runtime } from "../runtime.js";
import type { ScheduleJob } from "../scheduler/index.js";
import { loadAgentDir } from "./agent-dir.js";
import { deployDsl, redeployDsl } from "./deploy.js";
import { compileDsl } from "./extract.js";
import { atCron } from "./schedules.js";

// Periodic timers of the runtime fire on every advance of the manual clock: keep the advances short.
const START = Date.UTC(2031, 5, 1, 16, 0, 0);
const HOUR = 3_600_000;
const iso = (ms: number): string => new Date(ms).toISOString();

let runtime: Runtime | undefined;
let clock: ManualClock;

async function start(): Promise<Runtime> {
  clock = new ManualClock(START);
  const dataDir = mkdtempSync(join(tmpdir(), "symbiont-dsl-schedules-"));
  runtime = await createRuntime({ config: { data_dir: dataDir, store: { kind: "memory" } }, clock, logger: silentLogger() });
  return runtime;
}

afterEach(async () => {
  await runtime?.shutdown();
  runtime = undefined;
});

const agent = (name: string, value: string): string => `agent ${name} {\n    with { log("info", "${value}"); "${value}" }\n}\n`;
const at = (name: string, when: number, extra = ""): string => `schedule ${name} {\n    at = "${iso(when)}"\n    agent = migrator\n${extra}}\n`;

/** The agent's jobs, by name. */
const jobsOf = (r: Runtime): Record<string, ScheduleJob> => Object.fromEntries(r.scheduleJobs.list().map((j) => [j.name, j]));

async function fireAndSettle(r: Runtime, ms: number, jobName: string): Promise<ScheduleJob> {
  await clock.advance(ms);
  await until(() => {
    const job = jobsOf(r)[jobName];
    return job !== undefined && r.scheduleJobs.history(job.id, 1)[0]?.status !== "Running" && r.scheduleJobs.history(job.id, 1).length > 0;
  });
  return jobsOf(r)[jobName] as ScheduleJob;
}

describe("dsl - one-shot and policy-governed schedules become schedule jobs", () => {
  it("atCron names exactly the second of the time, rounded up", () => {
    expect(atCron(Date.UTC(2031, 11, 31, 23, 59, 58, 1))).toBe("59 59 23 31 12 * 2031");
    expect(atCron(Date.UTC(2032, 0, 1, 0, 0, 0, 0))).toBe("0 0 0 1 1 * 2032");
  });

  it("an 'at' schedule runs the agent's body once at that time, and the job is then Completed", async () => {
    const r = await start();
    const [migrator] = await deployDsl(r, compileDsl(at("migrate", START + HOUR) + agent("migrator", "migrated")));
    const job = jobsOf(r).migrate as ScheduleJob;
    expect(job).toMatchObject({ agent_id: migrator?.id, one_shot: true, timezone: "UTC", status: "Active", next_run: START + HOUR });

    await clock.advance(HOUR - 1000);
    expect(r.scheduleJobs.history(job.id, 5)).toEqual([]);
    const fired = await fireAndSettle(r, 1000, "migrate");
    const [run] = r.scheduleJobs.history(job.id, 5);
    expect(run).toMatchObject({ status: "Succeeded", trigger: "schedule", scheduled_for: START + HOUR });
    expect(await r.scheduler.getTaskStatus(run?.task_id as never)).toMatchObject({ state: "Completed", result: "migrated" });
    expect(fired).toMatchObject({ status: "Completed", run_count: 1, next_run: null });

    await clock.advance(2 * HOUR);
    expect(r.scheduleJobs.history(job.id, 5)).toHaveLength(1);
  });

  it("a policy of the file governs the schedule's runs: a denial skips the run with the policy's reason", async () => {
    const r = await start();
    const policy = "policy office_hours {\n    deny: schedule.run if time.hour < 9 || time.hour > 17\n}\n";
    const source = `${at("night", START + HOUR * 2, "    policy = office_hours\n")}${at("day", START + HOUR / 2, "    policy = office_hours\n")}${policy}${agent("migrator", "ran")}`;
    await deployDsl(r, compileDsl(source));
    const day = await fireAndSettle(r, HOUR / 2, "day");
    expect(r.scheduleJobs.history(day.id, 1)[0]).toMatchObject({ status: "Succeeded" });
    const night = await fireAndSettle(r, (HOUR * 3) / 2, "night");
    const [skipped] = r.scheduleJobs.history(night.id, 1);
    expect(skipped?.status).toBe("Skipped");
    expect(skipped?.error).toContain("office_hours");
    expect(skipped?.task_id).toBeNull();
  });

  it("an 'at' time already past, or a policy nobody has, is a clear error and nothing is left behind", async () => {
    const r = await start();
    const past = (await deployDsl(r, compileDsl(at("late", START - 1000) + agent("migrator", "x"))).catch((e: unknown) => e)) as Error;
    expect(isRuntimeError(past) && past.code).toBe("DSL_EXTRACTION_ERROR");
    expect(past.message).toBe(`<dsl> cannot be configured: <dsl>:1:1: schedule 'late': 'at' ${iso(START - 1000)} is in the past`);
    expect(await r.lifecycle.listAgents()).toEqual([]);

    const unknown = await deployDsl(r, compileDsl(at("guarded", START + HOUR, "    policy = nobody_has_this\n") + agent("migrator", "x"))).catch((e: unknown) => e);
    expect(isRuntimeError(unknown) && unknown.code).toBe("POLICY_NOT_FOUND");
    expect(r.scheduleJobs.list()).toEqual([]);
    expect(await r.lifecycle.listAgents()).toEqual([]);
  });

  it("a redeploy keeps unchanged jobs (a run one-shot is not run again), replaces changed ones and drops removed ones", async () => {
    const r = await start();
    const v1 = at("a", START + HOUR) + at("b", START + 2 * HOUR) + agent("migrator", "v1");
    const [m] = await deployDsl(r, compileDsl(v1));
    const id = m?.id as NonNullable<typeof m>["id"];
    await fireAndSettle(r, HOUR, "a");
    const before = jobsOf(r);

    const v2 = at("a", START + HOUR) + at("b", START + 5 * HOUR) + agent("migrator", "v2");
    await redeployDsl(r, id, compileDsl(v2));
    const after = jobsOf(r);
    expect(after.a).toEqual(before.a);
    expect(after.b?.id).not.toBe(before.b?.id);
    expect(after.b?.next_run).toBe(START + 5 * HOUR);
    expect(r.scheduleJobs.list()).toHaveLength(2);

    await redeployDsl(r, id, compileDsl(agent("migrator", "v3")));
    expect(r.scheduleJobs.list()).toEqual([]);
  });

  it("symbiont up --agents DIR creates the jobs, and reports an 'at' already past as file:line:col", async () => {
    const r = await start();
    const dir = mkdtempSync(join(tmpdir(), "symbiont-dsl-at-"));
    writeFileSync(join(dir, "m.symbi"), `\n${at("soon", START + HOUR)}${agent("migrator", "x")}`);
    expect((await loadAgentDir(dir, r)).created).toEqual(["migrator"]);
    expect(jobsOf(r).soon).toMatchObject({ status: "Active", next_run: START + HOUR });

    const late = mkdtempSync(join(tmpdir(), "symbiont-dsl-at-"));
    writeFileSync(join(late, "l.symbi"), at("gone", START - HOUR).replace("migrator", "latecomer") + agent("latecomer", "x"));
    const err = (await loadAgentDir(late, r).catch((e: unknown) => e)) as Error;
    expect(err.message).toContain(`${join(late, "l.symbi")}:1:1: schedule 'gone': 'at' ${iso(START - HOUR)} is in the past`);
    expect((await r.lifecycle.listAgents()).map((a) => a.config.name)).toEqual(["migrator"]);
  });
});
