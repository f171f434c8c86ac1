import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeApi, type TestApi } from "../../../test/helpers/api.js";

let api: TestApi;
beforeAll(async () => {
  api = await makeApi();
});
afterAll(async () => {
  await api.close();
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function create(body: Record<string, unknown> = { name: "a" }): Promise<string> {
  const res = await api.call("POST", "/api/v1/agents", body);
  expect(res.statusCode, res.body).toBe(200);
  return (res.json() as { id: string }).id;
}

describe("api - agents", () => {
  it("POST /agents takes the SDK body and answers {id, status: scheduled} with the agent running", async () => {
    const res = await api.call("POST", "/api/v1/agents", {
      name: "sdk-agent",
      dsl: "agent sdk {}",
      execution_mode: "Ephemeral",
      capabilities: ["FileSystem", "gpu"],
      metadata: { team: "ops" },
      priority: "High",
      resource_limits: { memory_mb: 256 },
    });
    expect(res.statusCode).toBe(200);
    const body = res.json() as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(["id", "status"]);
    expect(body.id).toMatch(UUID);
    expect(body.status).toBe("scheduled");
    const agent = await api.runtime.lifecycle.getAgent(body.id as never);
    expect(agent.state).toBe("Running");
    expect(agent.config.name).toBe("sdk-agent");
    expect(agent.config.dsl_source).toBe("agent sdk {}");
    expect(agent.config.execution_mode).toEqual({ type: "Ephemeral" });
    expect(agent.config.capabilities).toEqual(["FileSystem", { Custom: "gpu" }]);
    expect(agent.config.metadata).toEqual({ team: "ops", "dsl.agent": "sdk" });
    expect(agent.config.priority).toBe("High");
    expect(agent.config.resource_limits.memory_mb).toBe(256);
    expect(agent.config.resource_limits.cpu_cores).toBe(1);
  });

  it("the runtime's policy is enforced behind POST /agents: a denied configuration is 403 POLICY_DENIED", async () => {
    const res = await api.call("POST", "/api/v1/agents", { name: "wants-network", capabilities: ["Network"] });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ code: "POLICY_DENIED" });
    expect((await api.call("GET", "/api/v1/agents")).json()).not.toContainEqual(expect.objectContaining({ name: "wants-network" }));
  });

  it("execution_mode accepts the Scheduled and CronScheduled forms and reports them back the same way", async () => {
    const a = await create({ name: "every-90s", execution_mode: { Scheduled: { interval: { secs: 90, nanos: 500_000_000 } } } });
    expect((await api.runtime.lifecycle.getAgent(a as never)).config.execution_mode).toEqual({ type: "Scheduled", interval: 90_500 });
    const c = await create({ name: "cron", execution_mode: { CronScheduled: { cron_expression: "0 */5 * * * *", timezone: "Europe/Paris" } } });
    expect((await api.runtime.lifecycle.getAgent(c as never)).config.execution_mode).toEqual({
      type: "Scheduled",
      interval: 300_000,
      cron: "0 */5 * * * *",
      timezone: "Europe/Paris",
    });
    const status = (await api.call("GET", `/api/v1/agents/${c}/status`)).json() as Record<string, unknown>;
    expect(status.execution_mode).toEqual({ CronScheduled: { cron_expression: "0 */5 * * * *", timezone: "Europe/Paris" } });
    const detail = (await api.call("GET", `/api/v1/agents/${a}`)).json() as Record<string, unknown>;
    expect(detail.execution_mode).toEqual({ Scheduled: { interval: { secs: 90, nanos: 500_000_000 } } });
    for (const bad of [
      { CronScheduled: { cron_expression: "*/5 * * * *" } },
      { CronScheduled: { cron_expression: "0 0 12 * * *", timezone: "Mars/Olympus" } },
      { Scheduled: { interval: { secs: 0, nanos: 10 } } },
      { Scheduled: { interval: { secs: -1, nanos: 0 } } },
      "Sometimes",
    ]) {
      const res = await api.call("POST", "/api/v1/agents", { name: "bad", execution_mode: bad });
      expect(res.statusCode, JSON.stringify(bad)).toBe(400);
      expect((res.json() as { code: string }).code).toBe("VALIDATION_FAILED");
    }
  });

  it("GET /agents lists {id, name, state} by default and the spec's plain array with ids_only=true", async () => {
    const id = await create({ name: "listed" });
    const list = (await api.call("GET", "/api/v1/agents")).json() as { id: string; name: string; state: string }[];
    const item = list.find((a) => a.id === id);
    expect(item).toEqual({ id, name: "listed", state: "Running" });
    const ids = (await api.call("GET", "/api/v1/agents?ids_only=true")).json() as string[];
    expect(ids).toContain(id);
    expect(ids.every((x) => typeof x === "string" && UUID.test(x))).toBe(true);
    expect((await api.call("GET", "/api/v1/agents?ids_only=maybe")).statusCode).toBe(400);
  });

  it("GET /agents/{id}/status has the spec's shape plus the management API's optional fields", async () => {
    const id = await create({ name: "status", metadata: { k: "v" } });
    const res = await api.call("GET", `/api/v1/agents/${id}/status`);
    expect(res.statusCode).toBe(200);
    const s = res.json() as Record<string, unknown>;
    expect(s.agent_id).toBe(id);
    expect(s.state).toBe("Running");
    expect(s.last_activity).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    expect(s.resource_usage).toEqual({ memory_bytes: 0, cpu_percent: 0, active_tasks: 0 });
    expect(s.usage_source).toBe("none");
    expect(s.execution_mode).toBe("Persistent");
    expect(s.metadata).toEqual({ k: "v" });
    expect(s.recent_events).toEqual([]);
    expect(s).not.toHaveProperty("last_result");
  });

  it("PUT updates, lifecycle actions move the state, DELETE terminates and removes", async () => {
    const id = await create({ name: "before" });
    const put = await api.call("PUT", `/api/v1/agents/${id}`, { name: "after", dsl: "agent x {}", metadata: { a: "b" } });
    expect(put.json()).toEqual({ id, status: "updated" });
    const detail = (await api.call("GET", `/api/v1/agents/${id}`)).json() as Record<string, unknown>;
    expect(detail).toMatchObject({ id, name: "after", dsl: "agent x {}", metadata: { a: "b", "dsl.agent": "x" }, state: "Running" });
    expect((await api.call("POST", `/api/v1/agents/${id}/suspend`)).json()).toEqual({ id, state: "Suspended" });
    expect((await api.call("POST", `/api/v1/agents/${id}/resume`)).json()).toEqual({ id, state: "Running" });
    expect((await api.call("POST", `/api/v1/agents/${id}/stop`)).json()).toEqual({ id, state: "Completed" });
    expect((await api.call("POST", `/api/v1/agents/${id}/start`)).json()).toEqual({ id, state: "Running" });
    const again = await api.call("POST", `/api/v1/agents/${id}/resume`);
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ code: "INVALID_STATE_TRANSITION", details: { from: "Running", to: "Running" } });
    expect((await api.call("DELETE", `/api/v1/agents/${id}`)).json()).toEqual({ id, status: "deleted" });
    const gone = await api.call("GET", `/api/v1/agents/${id}/status`);
    expect(gone.statusCode).toBe(404);
    expect(gone.json()).toEqual({ error: `Agent ${id} not found`, code: "AGENT_NOT_FOUND", details: { agent_id: id } });
  });

  it("invalid ids are 400 INVALID_AGENT_ID on every agent route", async () => {
    for (const [method, path] of [
      ["GET", "/api/v1/agents/not-a-uuid"],
      ["GET", "/api/v1/agents/123/status"],
      ["PUT", "/api/v1/agents/zzz"],
      ["DELETE", "/api/v1/agents/%F0%9F%92%A9"],
      ["POST", "/api/v1/agents/abc/start"],
      ["POST", "/api/v1/agents/abc/heartbeat"],
    ] as const) {
      const res = await api.call(method, path, method === "GET" || method === "DELETE" ? undefined : { state: "Running" });
      expect(res.statusCode, `${method} ${path}`).toBe(400);
      expect((res.json() as { code: string }).code).toBe("INVALID_AGENT_ID");
    }
  });

  it("heartbeats apply allowed states, keep metadata, result and reported usage; events are recorded", async () => {
    const id = await create({ name: "external" });
    const hb = await api.call("POST", `/api/v1/agents/${id}/heartbeat`, {
      state: "waiting",
      metadata: { host: "edge-1" },
      last_result: { ok: true },
      resource_usage: { memory_bytes: 1048576, cpu_percent: 12.5 },
    });
    expect(hb.statusCode, hb.body).toBe(200);
    expect(hb.json()).toMatchObject({ agent_id: id, state: "Waiting" });
    const forbidden = await api.call("POST", `/api/v1/agents/${id}/heartbeat`, { state: "Terminated" });
    expect(forbidden.json()).toMatchObject({ code: "INVALID_STATE_TRANSITION" });
    const ev = await api.call("POST", `/api/v1/agents/${id}/events`, { event_type: "RunCompleted", payload: { rows: 3 } });
    expect(ev.json()).toMatchObject({ agent_id: id, event_type: "RunCompleted", status: "recorded" });
    expect((await api.call("POST", `/api/v1/agents/${id}/events`, { event_type: "Exploded" })).statusCode).toBe(400);
    const s = (await api.call("GET", `/api/v1/agents/${id}/status`)).json() as Record<string, unknown>;
    expect(s.state).toBe("Waiting");
    expect(s.resource_usage).toEqual({ memory_bytes: 1048576, cpu_percent: 12.5, active_tasks: 0 });
    expect(s.usage_source).toBe("reported");
    expect(s.metadata).toEqual({ host: "edge-1" });
    expect(s.last_result).toEqual({ rows: 3 });
    expect((s.recent_events as { event_type: string }[]).map((e) => e.event_type)).toEqual(["RunCompleted", "Heartbeat"]);
  });
});

describe("api - SDK request habits", () => {
  it("accepts Content-Type: application/json with an empty body on every method", async () => {
    const id = await create({ name: "sdk-empty" });
    const headers = { "content-type": "application/json" };
    expect((await api.call("GET", "/api/v1/agents", undefined, undefined, headers)).statusCode).toBe(200);
    expect((await api.call("POST", `/api/v1/agents/${id}/suspend`, undefined, undefined, headers)).json()).toEqual({ id, state: "Suspended" });
    expect((await api.call("DELETE", `/api/v1/agents/${id}`, undefined, undefined, headers)).json()).toEqual({ id, status: "deleted" });
    const res = await api.call("POST", "/api/v1/agents", undefined, undefined, headers);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: "VALIDATION_FAILED" });
  });
});
