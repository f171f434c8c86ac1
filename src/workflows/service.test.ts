import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { resolveConfig } from "../core/config/index.js";
import type { AgentId } from "../core/ids.js";
import { silentLogger } from "../core/logger.js";
import { agentConfig, makeLifecycle } from "../../test/helpers/runtime.js";
import { InProcessTaskRunner } from "./in-process-task-runner.js";
import { WorkflowRegistry } from "./registry.js";
import { WorkflowService } from "./service.js";

async function setup(dir?: string) {
  const { controller, clock, events, seen } = makeLifecycle({ enable_auto_recovery: false });
  const runner = new InProcessTaskRunner(controller);
  const registry = await WorkflowRegistry.open(dir);
  const service = new WorkflowService({
    config: resolveConfig({ workflows: { default_step_timeout: 5_000 } }).workflows,
    registry,
    runner,
    agents: controller,
    clock,
    events,
    logger: silentLogger(),
  });
  const agent = async (name: string, capabilities: string[] = []) => {
    const a = await controller.createAgent(agentConfig({ name, capabilities: capabilities.map((c) => ({ Custom: c })) }));
    await controller.initializeAgent(a.id);
    await controller.startAgent(a.id);
    return a.id;
  };
  return { controller, clock, events, seen, runner, registry, service, agent };
}

describe("workflows - execution", () => {
  it("runs a two-step workflow, feeding parameters and the first step's output to the second", async () => {
    const { runner, registry, service, agent } = await setup();
    const fetcher = await agent("fetcher");
    const converter = await agent("converter", ["convert"]);
    runner.register(fetcher, async (input) => ({ records: [(input as { file: string }).file, "b"] }));
    runner.register(converter, async (input) => {
      const { records, format } = input as { records: string[]; format: string };
      return { processed_records: records.length, output_file: `out.${format}` };
    });
    await registry.register({
      id: "data-processing",
      required_parameters: ["input_file"],
      steps: [
        { id: "fetch", agent: { name: "fetcher" }, input: { file: "{{ parameters.input_file }}" } },
        { id: "convert", agent: { capability: "convert" }, input: { records: "{{ steps.fetch.output.records }}", format: "{{ parameters.output_format }}" } },
      ],
    });
    const started = await service.start("data-processing", { input_file: "a.csv", output_format: "json" });
    expect(started.status).toBe("running");
    const done = await service.wait(started.execution_id);
    expect(done.status).toBe("success");
    expect(done.output).toEqual({ processed_records: 2, output_file: "out.json" });
    expect(done.steps.map((s) => [s.step_id, s.status, s.attempts, s.agent_id])).toEqual([
      ["fetch", "succeeded", 1, fetcher],
      ["convert", "succeeded", 1, converter],
    ]);
    expect(service.get(started.execution_id)).toBe(done);
  });

  it("runs independent steps concurrently and waits for both before the join", async () => {
    const { runner, registry, service, agent } = await setup();
    const id = await agent("w");
    let inFlight = 0;
    let peak = 0;
    const gates: (() => void)[] = [];
    runner.register(id, async (input) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      if ((input as { wait?: boolean }).wait) await new Promise<void>((r) => gates.push(r));
      inFlight--;
      return input;
    });
    await registry.register({
      id: "diamond",
      steps: [
        { id: "l", agent: { name: "w" }, input: { wait: true, v: 1 } },
        { id: "r", agent: { name: "w" }, input: { wait: true, v: 2 } },
        { id: "join", agent: { name: "w" }, input: { sum: ["{{ steps.l.output.v }}", "{{ steps.r.output.v }}"] } },
      ],
    });
    const ex = await service.start("diamond", {});
    while (gates.length < 2) await new Promise((r) => setImmediate(r));
    expect(peak).toBe(2);
    expect(service.get(ex.execution_id).steps.find((s) => s.step_id === "join")?.status).toBe("pending");
    gates.forEach((g) => g());
    const done = await service.wait(ex.execution_id);
    expect(done.output).toEqual({ sum: [1, 2] });
  });

  it("retries a failing step with backoff and reports failure with the completed outputs", async () => {
    const { runner, registry, service, agent, clock } = await setup();
    const id = await agent("flaky");
    let calls = 0;
    runner.register(id, async (input) => {
      calls++;
      if ((input as { fail: boolean }).fail) throw new Error("boom");
      return "ok";
    });
    await registry.register({
      id: "flaky",
      steps: [
        { id: "first", agent: { name: "flaky" }, input: { fail: false } },
        { id: "second", agent: { name: "flaky" }, input: { fail: true, after: "{{ steps.first.output }}" }, retries: 2, retry_backoff: 100 },
        { id: "third", agent: { name: "flaky" }, depends_on: ["second"] },
      ],
    });
    const ex = await service.start("flaky", {});
    await clock.advance(100);
    expect(calls).toBe(3);
    await clock.advance(200);
    const done = await service.wait(ex.execution_id);
    expect(calls).toBe(4);
    expect(done.status).toBe("failure");
    expect(done.output).toEqual({
      error: { code: "INTERNAL_ERROR", message: "The task failed with an internal error", step_id: "second" },
      steps: { first: "ok" },
    });
    expect(done.steps.map((s) => s.status)).toEqual(["succeeded", "failed", "skipped"]);
    expect(done.steps[1]?.attempts).toBe(3);
  });

  it("times a step out, aborting its signal", async () => {
    const { runner, registry, service, agent, clock } = await setup();
    const id = await agent("slow");
    let aborted = false;
    runner.register(id, (_input, ctx) => new Promise((_resolve, reject) => ctx.signal.addEventListener("abort", () => ((aborted = true), reject(ctx.signal.reason)))));
    await registry.register({ id: "slow", steps: [{ id: "s", agent: { name: "slow" }, timeout: 1_000 }] });
    const ex = await service.start("slow", {});
    await clock.advance(999);
    expect(service.get(ex.execution_id).status).toBe("running");
    await clock.advance(1);
    const done = await service.wait(ex.execution_id);
    expect(aborted).toBe(true);
    expect(done.status).toBe("failure");
    expect((done.output as { error: { code: string } }).error.code).toBe("WORKFLOW_STEP_TIMEOUT");
  });

  it("refuses before running: unknown workflow, missing parameters, unresolvable agent, out-of-scope agent", async () => {
    const { runner, registry, service, agent } = await setup();
    const id = await agent("a");
    let ran = 0;
    runner.register(id, () => ran++);
    await registry.register({ id: "w", required_parameters: ["x"], steps: [{ id: "s", agent: { name: "a" } }] });
    await registry.register({ id: "nobody", steps: [{ id: "s", agent: { capability: "teleport" } }] });
    await registry.register({ id: "default", steps: [{ id: "s" }] });
    await expect(service.start("missing", {})).rejects.toMatchObject({ code: "WORKFLOW_NOT_FOUND", status: 404 });
    await expect(service.start("w", {})).rejects.toMatchObject({ code: "VALIDATION_FAILED", details: { issues: [{ path: "parameters.x" }] } });
    await expect(service.start("nobody", {})).rejects.toMatchObject({ code: "WORKFLOW_AGENT_UNRESOLVED" });
    await expect(service.start("default", {})).rejects.toMatchObject({ code: "WORKFLOW_AGENT_UNRESOLVED" });
    await expect(service.start("w", { x: 1 }, { allowAgent: () => false })).rejects.toMatchObject({ code: "AGENT_SCOPE_DENIED" });
    expect(ran).toBe(0);
    const ok = await service.start("default", {}, { agent_id: id });
    expect((await service.wait(ok.execution_id)).status).toBe("success");
    expect(ran).toBe(1);
  });

  it("a step on an agent without a handler fails with TASK_HANDLER_MISSING", async () => {
    const { registry, service, agent } = await setup();
    await agent("bare");
    await registry.register({ id: "w", steps: [{ id: "s", agent: { name: "bare" } }] });
    const done = await service.wait((await service.start("w", {})).execution_id);
    expect((done.output as { error: { code: string } }).error.code).toBe("TASK_HANDLER_MISSING");
  });

  it("shutdown cancels running executions and refuses new ones", async () => {
    const { runner, registry, service, agent, seen } = await setup();
    const id = await agent("hang");
    runner.register(id, (_i, ctx) => new Promise((_r, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason))));
    await registry.register({ id: "w", steps: [{ id: "s", agent: { name: "hang" } }] });
    const ex = await service.start("w", {});
    await service.shutdown();
    const done = await service.wait(ex.execution_id);
    expect((done.output as { error: { code: string } }).error.code).toBe("WORKFLOW_CANCELLED");
    await expect(service.start("w", {})).rejects.toMatchObject({ code: "RUNTIME_SHUT_DOWN" });
    expect(seen.map((e) => e.type)).toEqual(expect.arrayContaining(["workflow.started", "workflow.finished"]));
  });
});

describe("workflows - registry files", () => {
  it("loads YAML and JSON files, persists API registrations and removes them", async () => {
    const dir = mkdtempSync(join(tmpdir(), "symbiont-wf-"));
    writeFileSync(join(dir, "one.yaml"), "id: one\nsteps:\n  - id: s\n    agent: { name: a }\n");
    writeFileSync(join(dir, "two.json"), JSON.stringify({ id: "two", steps: [{ id: "s" }] }));
    writeFileSync(join(dir, "notes.txt"), "ignored");
    const reg = await WorkflowRegistry.open(dir);
    expect(reg.list().map((w) => [w.id, w.source])).toEqual([["one", "file"], ["two", "file"]]);
    await reg.register({ id: "three", steps: [{ id: "s" }] });
    expect(JSON.parse(readFileSync(join(dir, "three.api.json"), "utf8")).id).toBe("three");
    const again = await WorkflowRegistry.open(dir);
    expect(again.has("three")).toBe(true);
    await expect(again.register({ id: "one", steps: [{ id: "s" }] })).rejects.toMatchObject({ code: "WORKFLOW_INVALID" });
    await again.register({ id: "three", steps: [{ id: "s2" }] });
    await again.remove("three");
    expect((await WorkflowRegistry.open(dir)).has("three")).toBe(false);
    await expect(again.remove("three")).rejects.toMatchObject({ code: "WORKFLOW_NOT_FOUND" });
  });

  it("a bad file fails start-up naming the file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "symbiont-wf-"));
    writeFileSync(join(dir, "bad.yaml"), "id: bad\nsteps:\n  - id: a\n    depends_on: [a]\n");
    await expect(WorkflowRegistry.open(dir)).rejects.toMatchObject({ code: "WORKFLOW_INVALID", details: { file: "bad.yaml" } });
    expect((await WorkflowRegistry.open(join(dir, "missing"))).list()).toEqual([]);
  });

  it("a step selects its agent by id, case-insensitively", async () => {
    const { agent, registry, service, runner } = await setup();
    const id: AgentId = await agent("x");
    runner.register(id, (input) => input);
    await registry.register({ id: "by-id", steps: [{ id: "s", agent: { id: id.toUpperCase() }, input: { v: "{{ parameters.v }}" } }] });
    const done = await service.wait((await service.start("by-id", { v: [1] })).execution_id);
    expect(done.output).toEqual({ v: [1] });
  });
});
