import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeApi, type TestApi } from "../../../test/helpers/api.js";
import type { InProcessTaskRunner } from "../../workflows/index.js";
import type { AgentId } from "../../core/ids.js";

let api: TestApi;
let runner: InProcessTaskRunner;
beforeAll(async () => {
  api = await makeApi();
  runner = api.runtime.workflows.runner as InProcessTaskRunner;
});
afterAll(async () => {
  await api.close();
});

async function agent(name: string, capabilities: string[] = []): Promise<AgentId> {
  return (await api.call("POST", "/api/v1/agents", { name, capabilities })).json().id as AgentId;
}

describe("api - workflows", () => {
  it("registers a two-step workflow and executes it: {result, output, execution_id}", async () => {
    const fetcher = await agent("wf-fetch");
    const sum = await agent("wf-sum", ["sum"]);
    runner.register(fetcher, (input) => ({ values: [1, 2, (input as { n: number }).n] }));
    runner.register(sum, (input) => ({ total: (input as { values: number[] }).values.reduce((a, b) => a + b, 0) }));
    const reg = await api.call("POST", "/api/v1/workflows", {
      id: "sum-flow",
      name: "Sum",
      steps: [
        { id: "fetch", agent: { name: "wf-fetch" }, input: { n: "{{ parameters.n }}" } },
        { id: "sum", agent: { capability: "sum" }, input: { values: "{{ steps.fetch.output.values }}" } },
      ],
    });
    expect(reg.statusCode, reg.body).toBe(201);
    expect(reg.json()).toEqual({ id: "sum-flow", name: "Sum", description: null, steps: 2, source: "api" });
    const res = await api.call("POST", "/api/v1/workflows/execute", { workflow_id: "sum-flow", parameters: { n: 4 } });
    expect(res.statusCode).toBe(200);
    const body = res.json() as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(["execution_id", "output", "result"]);
    expect(body.result).toBe("success");
    expect(body.output).toEqual({ total: 7 });
    const exec = (await api.call("GET", `/api/v1/workflows/executions/${body.execution_id as string}`)).json() as Record<string, unknown>;
    expect(exec).toMatchObject({ execution_id: body.execution_id, workflow_id: "sum-flow", status: "success", output: { total: 7 } });
    expect((exec.steps as { step_id: string; agent_id: string; status: string }[]).map((s) => [s.step_id, s.agent_id, s.status])).toEqual([
      ["fetch", fetcher, "succeeded"],
      ["sum", sum, "succeeded"],
    ]);
    const list = (await api.call("GET", "/api/v1/workflows")).json() as { workflows: { id: string }[] };
    expect(list.workflows.map((w) => w.id)).toContain("sum-flow");
    expect((await api.call("GET", "/api/v1/workflows/sum-flow")).json()).toMatchObject({ id: "sum-flow", steps: [{ id: "fetch" }, { id: "sum" }] });
  });

  it("runs asynchronously with async=true and is polled to completion", async () => {
    const a = await agent("wf-slow");
    let release: () => void = () => undefined;
    runner.register(a, () => new Promise((r) => (release = () => r("done"))));
    await api.call("POST", "/api/v1/workflows", { id: "slow", steps: [{ id: "s", agent: { id: a } }] });
    const res = await api.call("POST", "/api/v1/workflows/execute", { workflow_id: "slow", async: true });
    expect(res.statusCode).toBe(202);
    const { execution_id, status } = res.json() as { execution_id: string; status: string };
    expect(status).toBe("running");
    expect((await api.call("GET", `/api/v1/workflows/executions/${execution_id}`)).json()).toMatchObject({ status: "running", finished_at: null });
    release();
    await api.runtime.workflows.wait(execution_id);
    expect((await api.call("GET", `/api/v1/workflows/executions/${execution_id}`)).json()).toMatchObject({ status: "success", output: "done" });
  });

  it("a failing step is a 200 with result failure and the error", async () => {
    const a = await agent("wf-fail");
    runner.register(a, () => {
      throw new Error("nope");
    });
    await api.call("POST", "/api/v1/workflows", { id: "fails", steps: [{ id: "s", agent: { id: a } }] });
    const res = await api.call("POST", "/api/v1/workflows/execute", { workflow_id: "fails" });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ result: "failure", output: { error: { code: "INTERNAL_ERROR", step_id: "s" }, steps: {} } });
  });

  it("unknown workflow is 404 WORKFLOW_NOT_FOUND; cycles and bad references are refused at registration", async () => {
    const res = await api.call("POST", "/api/v1/workflows/execute", { workflow_id: "ghost", parameters: {} });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: "Workflow ghost not found", code: "WORKFLOW_NOT_FOUND", details: { workflow_id: "ghost" } });
    const cyc = await api.call("POST", "/api/v1/workflows", { id: "cyc", steps: [{ id: "a", depends_on: ["b"] }, { id: "b", depends_on: ["a"] }] });
    expect(cyc.statusCode).toBe(400);
    expect(cyc.json()).toMatchObject({ code: "WORKFLOW_INVALID", details: { cycle: expect.arrayContaining(["a", "b"]) } });
    expect((await api.call("POST", "/api/v1/workflows/execute", { workflow_id: "sum-flow", agent_id: "not-a-uuid" })).json()).toMatchObject({ code: "INVALID_AGENT_ID" });
    expect((await api.call("GET", "/api/v1/workflows/executions/nope")).json()).toMatchObject({ code: "WORKFLOW_EXECUTION_NOT_FOUND" });
  });

  it("a scoped key cannot run a workflow whose steps resolve outside its scope", async () => {
    const mine = await agent("wf-mine");
    runner.register(mine, () => 1);
    await api.call("POST", "/api/v1/workflows", { id: "mine-only", steps: [{ id: "s", agent: { id: mine } }] });
    const scoped = await api.key({ name: "wf-scoped", agent_ids: [mine] });
    expect((await api.call("POST", "/api/v1/workflows/execute", { workflow_id: "mine-only" }, scoped)).json()).toMatchObject({ result: "success", output: 1 });
    const denied = await api.call("POST", "/api/v1/workflows/execute", { workflow_id: "sum-flow", parameters: { n: 1 } }, scoped);
    expect(denied.statusCode).toBe(403);
    expect(denied.json()).toMatchObject({ code: "AGENT_SCOPE_DENIED" });
  });
});
