import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeApi, type TestApi } from "../../../test/helpers/api.js";
import type { AgentId, TaskId } from "../../core/ids.js";

let api: TestApi;
beforeAll(async () => {
  // No retries: a failed run shows as Failed at once.
  api = await makeApi({ scheduler: { retry_attempts: 0 } });
});
afterAll(async () => {
  await api.close();
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

async function agent(name: string, onTask?: (input: unknown) => unknown): Promise<AgentId> {
  const res = await api.call("POST", "/api/v1/agents", { name });
  expect(res.statusCode, res.body).toBe(200);
  const id = (res.json() as { id: AgentId }).id;
  if (onTask) api.runtime.executor.registerHandler(id, { onTask });
  return id;
}

async function execute(id: string, body: unknown = {}): Promise<string> {
  const res = await api.call("POST", `/api/v1/agents/${id}/execute`, body);
  expect(res.statusCode, res.body).toBe(200);
  const out = res.json() as Record<string, unknown>;
  expect(Object.keys(out).sort()).toEqual(["execution_id", "status"]);
  expect(out.status).toBe("execution_started");
  expect(out.execution_id).toMatch(UUID);
  return out.execution_id as string;
}

describe("api - execute and history", () => {
  it("execute queues a real task with the parameters as input; history shows it finished with its result", async () => {
    const seen: unknown[] = [];
    const id = await agent("exec-echo", (input) => {
      seen.push(input);
      return { echoed: input };
    });
    const execution_id = await execute(id, { parameters: { text: "hi", n: 2 }, timeout: 30, priority: "High" });
    const status = await api.runtime.scheduler.waitForTask(execution_id as TaskId);
    expect(status.state).toBe("Completed");
    expect(seen).toEqual([{ text: "hi", n: 2 }]);
    const res = await api.call("GET", `/api/v1/agents/${id}/history`);
    expect(res.statusCode).toBe(200);
    const body = res.json() as { history: Record<string, unknown>[]; next_cursor: string | null };
    expect(Object.keys(body).sort()).toEqual(["history", "next_cursor"]);
    expect(body.next_cursor).toBeNull();
    expect(body.history).toHaveLength(1);
    const entry = body.history[0] as Record<string, unknown>;
    expect(Object.keys(entry).sort()).toEqual(["execution_id", "result", "status", "timestamp"]);
    expect(entry).toMatchObject({ execution_id, status: "Completed", result: { echoed: { text: "hi", n: 2 } } });
    expect(entry.timestamp).toMatch(ISO);
  });

  it("a failing execution shows its error; history is newest first and pages with limit and cursor", async () => {
    let n = 0;
    const id = await agent("exec-pages", () => {
      n++;
      if (n === 2) throw new Error("second run breaks");
      return n;
    });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const e = await execute(id);
      await api.runtime.scheduler.waitForTask(e as TaskId);
      ids.push(e);
    }
    const all = (await api.call("GET", `/api/v1/agents/${id}/history`)).json() as { history: { execution_id: string; status: string; error?: unknown }[] };
    expect(all.history.map((h) => h.execution_id)).toEqual([...ids].reverse());
    const failed = all.history.find((h) => h.execution_id === ids[1]);
    expect(failed).toMatchObject({ status: "Failed", error: { code: "INTERNAL_ERROR", message: "second run breaks" } });
    expect(failed).not.toHaveProperty("result");
    const first = (await api.call("GET", `/api/v1/agents/${id}/history?limit=2`)).json() as { history: { execution_id: string }[]; next_cursor: string };
    expect(first.history.map((h) => h.execution_id)).toEqual([ids[4], ids[3]]);
    expect(first.next_cursor).toMatch(/^\d+$/);
    const second = (await api.call("GET", `/api/v1/agents/${id}/history?limit=2&cursor=${first.next_cursor}`)).json() as { history: { execution_id: string }[]; next_cursor: string };
    expect(second.history.map((h) => h.execution_id)).toEqual([ids[2], ids[1]]);
    const third = (await api.call("GET", `/api/v1/agents/${id}/history?limit=2&cursor=${second.next_cursor}`)).json() as { history: { execution_id: string }[]; next_cursor: string | null };
    expect(third.history.map((h) => h.execution_id)).toEqual([ids[0]]);
    expect(third.next_cursor).toBeNull();
    expect((await api.call("GET", `/api/v1/agents/${id}/history?cursor=abc`)).json()).toMatchObject({ code: "VALIDATION_FAILED" });
    expect((await api.call("GET", `/api/v1/agents/${id}/history?limit=0`)).statusCode).toBe(400);
  });

  it("a queued execution is listed as Pending, a running one as Running; the history holds only this agent's tasks", async () => {
    const releases: (() => void)[] = [];
    const busy = await agent("exec-busy", () => new Promise<void>((r) => releases.push(r)));
    const other = await agent("exec-other", () => 1);
    await api.runtime.scheduler.waitForTask((await execute(other)) as TaskId);
    const running = await execute(busy);
    while (releases.length === 0) await new Promise((r) => setTimeout(r, 5));
    await api.runtime.scheduler.pauseScheduling();
    const queued = await execute(busy);
    const h = (await api.call("GET", `/api/v1/agents/${busy}/history`)).json() as { history: { execution_id: string; status: string }[] };
    expect(h.history).toEqual([
      { execution_id: queued, status: "Pending", timestamp: expect.stringMatching(ISO) },
      { execution_id: running, status: "Running", timestamp: expect.stringMatching(ISO) },
    ]);
    await api.runtime.scheduler.resumeScheduling();
    releases[0]?.();
    await api.runtime.scheduler.waitForTask(running as TaskId);
    while (releases.length < 2) await new Promise((r) => setTimeout(r, 5));
    releases[1]?.();
    expect((await api.runtime.scheduler.waitForTask(queued as TaskId)).state).toBe("Completed");
  });

  it("bad bodies, ids, unknown agents, missing and out-of-scope keys are typed errors", async () => {
    const id = await agent("exec-errors", () => 1);
    for (const bad of [{ timeout: 0 }, { timeout: 86_401 }, { priority: "Urgent" }, { parameters: "x" }, { extra: 1 }]) {
      const res = await api.call("POST", `/api/v1/agents/${id}/execute`, bad);
      expect(res.statusCode, JSON.stringify(bad)).toBe(400);
      expect((res.json() as { code: string }).code).toBe("VALIDATION_FAILED");
    }
    for (const [method, path] of [["POST", "/api/v1/agents/nope/execute"], ["GET", "/api/v1/agents/nope/history"]] as const) {
      const res = await api.call(method, path, method === "POST" ? {} : undefined);
      expect(res.statusCode).toBe(400);
      expect((res.json() as { code: string }).code).toBe("INVALID_AGENT_ID");
    }
    const ghost = "5b0e7f43-52c4-4a6a-9f43-1f1e2f3a4b5c";
    expect((await api.call("POST", `/api/v1/agents/${ghost}/execute`, {})).json()).toMatchObject({ code: "AGENT_NOT_FOUND" });
    expect((await api.call("GET", `/api/v1/agents/${ghost}/history`)).statusCode).toBe(404);
    expect((await api.call("POST", `/api/v1/agents/${id}/execute`, {}, null)).statusCode).toBe(401);
    expect((await api.call("GET", `/api/v1/agents/${id}/history`, undefined, null)).statusCode).toBe(401);
    const other = await agent("exec-scope");
    const scoped = await api.key({ name: "exec-scoped", agent_ids: [other] });
    for (const [method, path] of [["POST", `/api/v1/agents/${id}/execute`], ["GET", `/api/v1/agents/${id}/history`]] as const) {
      const res = await api.call(method, path, method === "POST" ? {} : undefined, scoped);
      expect(res.statusCode).toBe(403);
      expect((res.json() as { code: string }).code).toBe("AGENT_SCOPE_DENIED");
    }
    expect((await api.call("GET", `/api/v1/agents/${other}/history`, undefined, scoped)).json()).toEqual({ history: [], next_cursor: null });
  });
});
