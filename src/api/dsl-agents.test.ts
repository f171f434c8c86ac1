import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeApi, type TestApi } from "../../test/helpers/api.js";
import { AgentId, MessageId } from "../core/ids.js";
import type { TaskStatus } from "../scheduler/types.js";

let api: TestApi;
beforeAll(async () => {
  api = await makeApi({ store: { kind: "memory" } });
});
afterAll(async () => {
  await api.close();
});

const corpus = (name: string): string => readFileSync(new URL(`../dsl/corpus/valid/${name}`, import.meta.url), "utf8");

async function create(body: Record<string, unknown>): Promise<{ id: string; agents?: { id: string; name: string }[] }> {
  const res = await api.call("POST", "/api/v1/agents", body);
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as { id: string; agents?: { id: string; name: string }[] };
}

async function runTask(id: string, input: unknown): Promise<TaskStatus> {
  const task = await api.runtime.scheduler.scheduleTask({ agent_id: AgentId.parse(id), input });
  return api.runtime.scheduler.waitForTask(task.id);
}

const SUM = `agent summer(xs: List<int>) -> int {
    capabilities = ["math"]
    policy guard {
        deny: network_access
        audit: tool.call
    }
    with sandbox = "gvisor", timeout = 20s, max_memory_mb = 128, max_cpu_cores = 0.5 {
        let t = 0;
        for x in xs { t += x; }
        t
    }
}
`;

describe("api - agents from DSL", () => {
  it("POST /agents with dsl creates the agent from the file and a task runs its body, returning its value", async () => {
    const { id } = await create({ name: "summer", dsl: SUM, metadata: { team: "math" } });
    const agent = await api.runtime.lifecycle.getAgent(AgentId.parse(id));
    expect(agent.state).toBe("Running");
    expect(agent.config).toMatchObject({
      name: "summer",
      dsl_source: SUM,
      security_tier: "Tier2",
      capabilities: [{ Custom: "math" }],
      execution_mode: { type: "Ephemeral" },
      metadata: { team: "math", "dsl.agent": "summer" },
    });
    expect(agent.config.resource_limits).toMatchObject({ memory_mb: 128, cpu_cores: 0.5, execution_timeout: 20_000 });
    // The restrictions of the file's policy blocks are the agent's policies in the engine.
    const own = (await api.runtime.policy.getAgentPolicies(agent.id)).find((p) => p.id === "summer.guard");
    expect(own?.rules.map((r) => `${r.effect} ${r.action}`)).toEqual(["deny network.*", "deny sandbox.network"]);
    expect(await runTask(id, { xs: [1, 2, 3, 4] })).toMatchObject({ state: "Completed", result: 10 });
  });

  it("the body's own failure fails the task with its message and position", async () => {
    const { id } = await create({ name: "thrower", dsl: 'agent thrower(n: int) {\n with {\n if n > 1 { error("too big: ", n) }\n n\n }\n}\n' });
    expect(await runTask(id, { n: 1 })).toMatchObject({ state: "Completed", result: 1 });
    const failed = await runTask(id, { n: 5 });
    expect(failed.state).toBe("Failed");
    expect("error" in failed ? failed.error.message : "").toMatch(/3:\d+: too big: +5/);
  });

  it("a parse or extraction error is 400 with file:line:col per problem, and nothing is created", async () => {
    const before = (await api.runtime.lifecycle.listAgents()).length;
    const parse = await api.call("POST", "/api/v1/agents", { name: "bad", dsl: "agent bad {\n with {\n let x = 1\n x\n }\n}\n" });
    expect(parse.statusCode).toBe(400);
    const pb = parse.json() as { code: string; details: { diagnostics: { location: string; message: string }[] } };
    expect(pb.code).toBe("DSL_PARSE_ERROR");
    expect(pb.details.diagnostics[0]?.location).toMatch(/^dsl:3:\d+$/);

    const extract = await api.call("POST", "/api/v1/agents", {
      name: "bad",
      dsl: 'agent bad {\n with sandbox = "vmware", timeout = 0s {\n 1\n }\n}\n',
    });
    expect(extract.statusCode).toBe(400);
    const eb = extract.json() as { code: string; details: { diagnostics: { location: string; message: string }[] } };
    expect(eb.code).toBe("DSL_EXTRACTION_ERROR");
    expect(eb.details.diagnostics.map((d) => d.location)).toEqual(["dsl:2:17", "dsl:2:37"]);
    expect(eb.details.diagnostics[0]?.message).toMatch(/unknown sandbox tier "vmware"/);

    const none = await api.call("POST", "/api/v1/agents", { name: "x", dsl: "metadata { v = 1 }\n" });
    expect(none.statusCode).toBe(400);
    expect(none.json()).toMatchObject({ code: "DSL_EXTRACTION_ERROR" });
    expect((await api.runtime.lifecycle.listAgents()).length).toBe(before);
  });

  it("an 'at' schedule in the file becomes a one-shot schedule job of the agent; one already past is a 400 at its line:col", async () => {
    const at = (when: string): string => `schedule launch {\n  at = "${when}"\n  agent = launcher\n}\nagent launcher {\n  with { "launched" }\n}\n`;
    const { id } = await create({ name: "launcher", dsl: at("2099-03-01T12:00:00Z") });
    const list = (await api.call("GET", "/api/v1/schedules")).json() as { job_id: string; name: string; cron_expression: string; next_run: string }[];
    const job = list.find((j) => j.name === "launch");
    expect(job).toMatchObject({ cron_expression: "0 0 12 1 3 * 2099", next_run: "2099-03-01T12:00:00Z" });
    expect((await api.call("GET", `/api/v1/schedules/${job?.job_id}`)).json()).toMatchObject({ agent_id: id, one_shot: true });

    const late = await api.call("POST", "/api/v1/agents", { name: "late", dsl: at("2001-01-01T00:00:00Z").replaceAll("launcher", "late") });
    expect(late.statusCode).toBe(400);
    expect(late.json()).toMatchObject({ code: "DSL_EXTRACTION_ERROR", details: { diagnostics: [{ location: "dsl:1:1", message: expect.stringContaining("is in the past") }] } });
    expect((await api.runtime.lifecycle.listAgents()).some((a) => a.config.name === "late")).toBe(false);
  });

  it("a file with several agents creates them all; name picks the returned one; delegate runs through the scheduler", async () => {
    const res = await create({ name: "planner", dsl: corpus("multi-agent.symbi") });
    expect(res.agents?.map((a) => a.name)).toEqual(["planner", "worker"]);
    expect(res.id).toBe(res.agents?.[0]?.id);
    expect(await runTask(res.id, { tasks: ["a", "b"] })).toMatchObject({ state: "Completed", result: ["done: a", "done: b"] });
    const worker = await api.runtime.lifecycle.getAgent(AgentId.parse(res.agents?.[1]?.id));
    expect(worker.execution_count).toBeGreaterThanOrEqual(2);

    const unnamed = await api.call("POST", "/api/v1/agents", { name: "nobody", dsl: corpus("multi-agent.symbi") });
    expect(unnamed.statusCode).toBe(400);
    expect((unnamed.json() as { error: string }).error).toMatch(/defines 2 agents \(worker, planner\); 'nobody' is none of them/);
  });

  it("a cron schedule in the file becomes the agent's cron execution mode, armed in the scheduler", async () => {
    const source = 'schedule tick {\n cron = "0 0 3 * * *"\n agent = ticker\n}\nagent ticker {\n with { now() }\n}\n';
    const { id } = await create({ name: "ticker", dsl: source });
    const agent = await api.runtime.lifecycle.getAgent(AgentId.parse(id));
    expect(agent.config.execution_mode).toMatchObject({ type: "Scheduled", cron: "0 0 3 * * *", timezone: "UTC" });
    const next = api.runtime.schedules.nextFire(agent.id);
    expect(new Date(next as number).getUTCHours()).toBe(3);
  });

  it("PUT with dsl re-extracts the definition: the next task runs the new body", async () => {
    const { id } = await create({ name: "greeter", dsl: 'agent greeter(n: String) {\n with { "hello " + n }\n}\n' });
    expect(await runTask(id, { n: "a" })).toMatchObject({ result: "hello a" });
    const bad = await api.call("PUT", `/api/v1/agents/${id}`, { dsl: "agent greeter {\n with { 1 +  }\n}\n" });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: "DSL_PARSE_ERROR" });
    const put = await api.call("PUT", `/api/v1/agents/${id}`, { dsl: 'agent greeter(n: String) {\n with timeout = 9s { "bye " + n }\n}\n', priority: "High" });
    expect(put.statusCode, put.body).toBe(200);
    const agent = await api.runtime.lifecycle.getAgent(AgentId.parse(id));
    expect(agent.config).toMatchObject({ name: "greeter", priority: "High", resource_limits: { execution_timeout: 9000 } });
    expect(await runTask(id, { n: "a" })).toMatchObject({ result: "bye a" });
  });

  it("send from a body goes through the bus (signed, encrypted) to the named agent; publish reaches subscribers", async () => {
    const inbox = await create({ name: "inbox", dsl: "agent inbox {\n with { 0 }\n}\n" });
    const { id } = await create({
      name: "sender",
      dsl: 'agent sender(text: String) {\n with {\n let id = send("inbox", { text: text, n: 1 });\n publish("news.daily", { headline: text })\n }\n}\n',
    });
    await api.runtime.bus.subscribeToTopic(AgentId.parse(inbox.id), "news.*");
    const status = await runTask(id, { text: "hi" });
    expect(status.state, JSON.stringify(status)).toBe("Completed");
    const published = (status as { result: string[] }).result;
    expect(published).toHaveLength(1);
    const got = await api.runtime.bus.receiveMessages(AgentId.parse(inbox.id));
    const bodies = got.map((m) => ({ from: m.message.from, topic: m.message.topic, payload: JSON.parse(Buffer.from(m.message.payload).toString("utf8")) as unknown }));
    expect(bodies).toEqual(
      expect.arrayContaining([
        { from: id, topic: "direct", payload: { text: "hi", n: 1 } },
        { from: id, topic: "news.daily", payload: { headline: "hi" } },
      ]),
    );
    expect(got.find((m) => m.message.topic === "news.daily")?.message.id).toBe(published[0]);
    // What travelled is ciphertext, not the JSON text.
    for (const m of got) expect(Buffer.from(m.encrypted_payload).toString("utf8")).not.toContain("hi");
  });

  it("a policy block denying messaging blocks send from the body, and the engine blocks the agent's messages anywhere", async () => {
    const inbox = await create({ name: "quiet-inbox", dsl: "agent quiet_inbox {\n with { 0 }\n}\n" });
    const { id } = await create({
      name: "muted",
      dsl: 'agent muted {\n policy silence {\n deny: messaging\n }\n with {\n try { send("quiet-inbox", "x"); "sent" } catch (PolicyDenied e) { e.code }\n }\n}\n',
    });
    expect(await runTask(id, {})).toMatchObject({ state: "Completed", result: "POLICY_DENIED" });
    // The same restriction holds outside the body: the policy engine refuses the agent's direct bus sends.
    await expect(
      api.runtime.bus.sendMessage({
        id: MessageId.new(),
        from: AgentId.parse(id),
        to: AgentId.parse(inbox.id),
        topic: "direct",
        payload: new Uint8Array([1]),
        priority: "Normal",
        ttl: 0,
      }),
    ).rejects.toMatchObject({ code: "POLICY_DENIED" });
    expect(await api.runtime.bus.receiveMessages(AgentId.parse(inbox.id))).toEqual([]);
  });
});
