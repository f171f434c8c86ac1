import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeApi, type TestApi } from "../../../test/helpers/api.js";
import type { AgentId } from "../../core/ids.js";
import { untilRead } from "../../../test/helpers/wait.js";

let api: TestApi;
beforeAll(async () => {
  api = await makeApi({ scheduler: { retry_attempts: 0 } });
});
afterAll(async () => {
  await api.close();
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const HOURLY = "0 0 * * * *";

async function agent(name: string, onTask?: (input: unknown) => unknown): Promise<AgentId> {
  const res = await api.call("POST", "/api/v1/agents", { name });
  expect(res.statusCode, res.body).toBe(200);
  const id = (res.json() as { id: AgentId }).id;
  if (onTask) api.runtime.executor.registerHandler(id, { onTask });
  return id;
}

async function create(body: Record<string, unknown>): Promise<string> {
  const res = await api.call("POST", "/api/v1/schedules", body);
  expect(res.statusCode, res.body).toBe(201);
  return (res.json() as { job_id: string }).job_id;
}

describe("api - schedules", () => {
  it("POST /schedules creates a job by agent name: 201 {job_id, next_run, status}; list and detail show it field by field", async () => {
    const id = await agent("sched-named", () => "ok");
    const res = await api.call("POST", "/api/v1/schedules", { name: "hourly", cron_expression: HOURLY, timezone: "Europe/Paris", agent_name: "sched-named" });
    expect(res.statusCode, res.body).toBe(201);
    const created = res.json() as Record<string, unknown>;
    expect(Object.keys(created).sort()).toEqual(["job_id", "next_run", "status"]);
    expect(created.job_id).toMatch(UUID);
    expect(created.status).toBe("created");
    expect(created.next_run).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:00:00Z$/);

    const list = (await api.call("GET", "/api/v1/schedules")).json() as Record<string, unknown>[];
    const item = list.find((s) => s.job_id === created.job_id);
    expect(item).toEqual({
      job_id: created.job_id,
      name: "hourly",
      cron_expression: HOURLY,
      timezone: "Europe/Paris",
      status: "Active",
      enabled: true,
      next_run: created.next_run,
      run_count: 0,
    });
    const detail = (await api.call("GET", `/api/v1/schedules/${created.job_id as string}`)).json() as Record<string, unknown>;
    expect(detail).toMatchObject({ ...item, agent_id: id, agent_name: "sched-named", one_shot: false, policy_ids: [], last_run: null, failure_count: 0, status_reason: null });
    expect(detail.created_at).toMatch(ISO);
    expect(detail.updated_at).toMatch(ISO);
    expect(Object.keys(detail).sort()).toEqual(
      ["agent_id", "agent_name", "created_at", "cron_expression", "enabled", "failure_count", "job_id", "last_run", "name", "next_run", "one_shot", "policy_ids", "run_count", "status", "status_reason", "timezone", "updated_at"].sort(),
    );
    const next = (await api.call("GET", `/api/v1/schedules/${created.job_id as string}/next-runs?count=3`)).json() as { job_id: string; next_runs: string[] };
    expect(next.job_id).toBe(created.job_id);
    expect(next.next_runs).toHaveLength(3);
    expect(next.next_runs[0]).toBe(created.next_run);
    expect(Date.parse(next.next_runs[1] as string) - Date.parse(next.next_runs[0] as string)).toBe(3_600_000);
  });

  it("a job runs its agent: every-second cron fires with the real clock and the history gets Succeeded entries", async () => {
    const inputs: unknown[] = [];
    const id = await agent("sched-every-second", (input) => void inputs.push(input));
    const job = await create({ name: "every-second", cron_expression: "* * * * * *", agent_id: id, input: { hello: "world" } });
    const history = await untilRead(
      async () => (await api.call("GET", `/api/v1/schedules/${job}/history`)).json() as { job_id: string; history: Record<string, unknown>[] },
      (h) => h.history.some((r) => r.status === "Succeeded"),
    );
    expect(history.job_id).toBe(job);
    const run = history.history.find((r) => r.status === "Succeeded") as Record<string, unknown>;
    expect(Object.keys(run).sort()).toEqual(["completed_at", "error", "execution_time_ms", "run_id", "scheduled_for", "started_at", "status", "trigger"]);
    expect(run).toMatchObject({ error: null, trigger: "schedule" });
    expect(run.run_id).toMatch(UUID);
    expect(run.started_at).toMatch(ISO);
    expect(run.completed_at).toMatch(ISO);
    expect(Number.isInteger(run.execution_time_ms)).toBe(true);
    expect(inputs[0]).toEqual({ hello: "world" });
    // The run is a real scheduler task of the agent.
    const tasks = (await api.call("GET", `/api/v1/agents/${id}/history`)).json() as { history: { execution_id: string; status: string }[] };
    expect(tasks.history.map((t) => t.execution_id)).toContain(run.run_id);
    const paused = await api.call("POST", `/api/v1/schedules/${job}/pause`);
    expect(paused.json()).toEqual({ job_id: job, action: "pause", status: "Paused" });
    const summary = (await api.call("GET", `/api/v1/schedules/${job}`)).json() as Record<string, unknown>;
    expect(summary).toMatchObject({ status: "Paused", enabled: false, next_run: null });
    expect(summary.run_count as number).toBeGreaterThanOrEqual(1);
    expect((await api.call("DELETE", `/api/v1/schedules/${job}`)).json()).toEqual({ job_id: job, deleted: true });
  });

  it("pause, resume, trigger and PUT change the job; delete removes it", async () => {
    const id = await agent("sched-actions", () => 42);
    const job = await create({ name: "actions", cron_expression: HOURLY, agent_name: "sched-actions" });
    expect((await api.call("POST", `/api/v1/schedules/${job}/pause`)).json()).toEqual({ job_id: job, action: "pause", status: "Paused" });
    const trig = (await api.call("POST", `/api/v1/schedules/${job}/trigger`)).json() as Record<string, unknown>;
    expect(trig).toMatchObject({ job_id: job, action: "trigger", status: "Running" });
    expect(trig.run_id).toMatch(UUID);
    const ran = await untilRead(
      async () => (await api.call("GET", `/api/v1/schedules/${job}/history?limit=1`)).json() as { history: Record<string, unknown>[] },
      (h) => h.history[0]?.status === "Succeeded",
    );
    expect(ran.history).toEqual([expect.objectContaining({ run_id: trig.run_id, trigger: "manual" })]);
    expect((await api.call("POST", `/api/v1/schedules/${job}/resume`)).json()).toEqual({ job_id: job, action: "resume", status: "Active" });
    const put = await api.call("PUT", `/api/v1/schedules/${job}`, { name: "renamed", cron_expression: "30 15 10 * * * 2098", timezone: "UTC", one_shot: true });
    expect(put.statusCode, put.body).toBe(200);
    expect(put.json()).toMatchObject({ job_id: job, name: "renamed", cron_expression: "30 15 10 * * * 2098", one_shot: true, status: "Active", next_run: "2098-01-01T10:15:30Z", agent_id: id, run_count: 1 });
    expect((await api.call("GET", `/api/v1/schedules/${job}/next-runs`)).json()).toEqual({ job_id: job, next_runs: ["2098-01-01T10:15:30Z"] });
    expect((await api.call("DELETE", `/api/v1/schedules/${job}`)).json()).toEqual({ job_id: job, deleted: true });
    const gone = await api.call("GET", `/api/v1/schedules/${job}`);
    expect(gone.statusCode).toBe(404);
    expect(gone.json()).toEqual({ error: `Schedule ${job} not found`, code: "SCHEDULE_NOT_FOUND", details: { schedule_id: job } });
  });

  it("bad cron is 400 CRON_INVALID; unknown agent or schedule 404; ambiguous names 409; bad ids 400; wrong states 409", async () => {
    await agent("sched-errors");
    for (const cron of ["*/5 * * * *", "61 * * * * *", "not a cron", "0 0 0 1 1 * 1999"]) {
      const res = await api.call("POST", "/api/v1/schedules", { name: "bad", cron_expression: cron, agent_name: "sched-errors" });
      expect(res.statusCode, cron).toBe(400);
      expect((res.json() as { code: string }).code).toBe("CRON_INVALID");
    }
    const tz = await api.call("POST", "/api/v1/schedules", { name: "bad", cron_expression: HOURLY, timezone: "Mars/Olympus", agent_name: "sched-errors" });
    expect(tz.json()).toMatchObject({ code: "CRON_INVALID" });
    const noAgent = await api.call("POST", "/api/v1/schedules", { name: "x", cron_expression: HOURLY, agent_name: "nobody-has-this-name" });
    expect(noAgent.statusCode).toBe(404);
    expect(noAgent.json()).toMatchObject({ code: "AGENT_NOT_FOUND", details: { agent_name: "nobody-has-this-name" } });
    expect((await api.call("POST", "/api/v1/schedules", { name: "x", cron_expression: HOURLY, agent_id: "5b0e7f43-52c4-4a6a-9f43-1f1e2f3a4b5c" })).statusCode).toBe(404);
    expect((await api.call("POST", "/api/v1/schedules", { name: "x", cron_expression: HOURLY, agent_id: "nope" })).json()).toMatchObject({ code: "INVALID_AGENT_ID" });
    expect((await api.call("POST", "/api/v1/schedules", { name: "x", cron_expression: HOURLY })).json()).toMatchObject({ code: "VALIDATION_FAILED" });
    expect((await api.call("POST", "/api/v1/schedules", { name: "x", cron_expression: HOURLY, agent_name: "sched-errors", policy_ids: ["ghost"] })).json()).toMatchObject({ code: "POLICY_NOT_FOUND" });
    await agent("sched-twin");
    await agent("sched-twin");
    const twin = await api.call("POST", "/api/v1/schedules", { name: "x", cron_expression: HOURLY, agent_name: "sched-twin" });
    expect(twin.statusCode).toBe(409);
    expect(twin.json()).toMatchObject({ code: "AGENT_NAME_AMBIGUOUS", details: { agent_name: "sched-twin", agent_ids: expect.any(Array) } });

    const missing = "5b0e7f43-52c4-4a6a-9f43-1f1e2f3a4b5c";
    for (const [method, path] of [["GET", ""], ["PUT", ""], ["DELETE", ""], ["POST", "/pause"], ["POST", "/resume"], ["POST", "/trigger"], ["GET", "/history"], ["GET", "/next-runs"]] as const) {
      const body = method === "PUT" ? { name: "n" } : method === "POST" ? {} : undefined;
      const notFound = await api.call(method, `/api/v1/schedules/${missing}${path}`, body);
      expect(notFound.statusCode, `${method} ${path}`).toBe(404);
      expect((notFound.json() as { code: string }).code).toBe("SCHEDULE_NOT_FOUND");
      const badId = await api.call(method, `/api/v1/schedules/not-a-uuid${path}`, body);
      expect(badId.statusCode, `${method} ${path}`).toBe(400);
      expect((badId.json() as { code: string }).code).toBe("INVALID_SCHEDULE_ID");
    }
    const once = await create({ name: "done", cron_expression: "* * * * * *", agent_name: "sched-errors", one_shot: true });
    await untilRead(async () => (await api.call("GET", `/api/v1/schedules/${once}`)).json() as { status: string }, (s) => s.status === "Completed");
    const resume = await api.call("POST", `/api/v1/schedules/${once}/resume`);
    expect(resume.statusCode).toBe(409);
    expect(resume.json()).toMatchObject({ code: "SCHEDULE_INVALID_STATE", details: { status: "Completed", action: "resume" } });
    expect((await api.call("PUT", `/api/v1/schedules/${once}`, { cron_expression: "bad" })).json()).toMatchObject({ code: "CRON_INVALID" });
    expect((await api.call("GET", `/api/v1/schedules/${once}/history?limit=0`)).statusCode).toBe(400);
  });

  it("401 without a key; a scoped key sees and manages only its agents' jobs", async () => {
    const mine = await agent("sched-mine");
    const theirs = await agent("sched-theirs");
    const myJob = await create({ name: "mine", cron_expression: HOURLY, agent_id: mine });
    const theirJob = await create({ name: "theirs", cron_expression: HOURLY, agent_id: theirs });
    for (const [method, path] of [["GET", "/api/v1/schedules"], ["POST", "/api/v1/schedules"], ["GET", `/api/v1/schedules/${myJob}`], ["POST", `/api/v1/schedules/${myJob}/trigger`]] as const) {
      const res = await api.call(method, path, method === "POST" ? {} : undefined, null);
      expect(res.statusCode, `${method} ${path}`).toBe(401);
      expect((res.json() as { code: string }).code).toBe("UNAUTHORIZED");
    }
    const scoped = await api.key({ name: "sched-scoped", agent_ids: [mine] });
    const list = (await api.call("GET", "/api/v1/schedules", undefined, scoped)).json() as { job_id: string }[];
    expect(list.map((s) => s.job_id)).toEqual([myJob]);
    expect((await api.call("GET", `/api/v1/schedules/${myJob}`, undefined, scoped)).statusCode).toBe(200);
    for (const [method, path] of [["GET", ""], ["DELETE", ""], ["POST", "/pause"], ["GET", "/history"]] as const) {
      const res = await api.call(method, `/api/v1/schedules/${theirJob}${path}`, method === "POST" ? {} : undefined, scoped);
      expect(res.statusCode, `${method} ${path}`).toBe(403);
      expect((res.json() as { code: string }).code).toBe("AGENT_SCOPE_DENIED");
    }
    const denied = await api.call("POST", "/api/v1/schedules", { name: "x", cron_expression: HOURLY, agent_id: theirs }, scoped);
    expect(denied.json()).toMatchObject({ code: "AGENT_SCOPE_DENIED" });
    expect((await api.call("POST", "/api/v1/schedules", { name: "ok", cron_expression: HOURLY, agent_id: mine }, scoped)).statusCode).toBe(201);
  });
});
