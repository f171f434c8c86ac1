import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../../src/core/logger.js";
import { parseAgentConfig } from "../../src/core/schemas.js";
import { createRuntime } from "../../src/runtime.js";
import type { TaskRequest, TaskRunner } from "../../src/workflows/index.js";

describe("runtime - workflows", () => {
  it("loads workflow files from <data_dir>/workflows and runs steps through the injected TaskRunner", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "symbiont-rt-"));
    mkdirSync(join(dataDir, "workflows"));
    writeFileSync(join(dataDir, "workflows", "echo.yaml"), "id: echo\nsteps:\n  - id: e\n    agent: { name: echoer }\n    input: { v: '{{ parameters.v }}' }\n");
    const seen: TaskRequest[] = [];
    const runner: TaskRunner = {
      async run(req) {
        seen.push(req);
        return { echoed: (req.input as { v: unknown }).v };
      },
      activeTasks: () => 0,
    };
    const runtime = await createRuntime({ config: { data_dir: dataDir }, logger: silentLogger(), taskRunner: runner });
    const agent = await runtime.lifecycle.createAgent(parseAgentConfig({ name: "echoer" }));
    await runtime.lifecycle.initializeAgent(agent.id);
    const started = await runtime.workflows.start("echo", { v: "hi" });
    const done = await runtime.workflows.wait(started.execution_id);
    expect(done.output).toEqual({ echoed: "hi" });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ agent_id: agent.id, input: { v: "hi" }, timeout_ms: 300_000, origin: { workflow_id: "echo", step_id: "e", attempt: 1 } });
    await runtime.shutdown();
    await expect(runtime.workflows.start("echo", {})).rejects.toMatchObject({ code: "RUNTIME_SHUT_DOWN" });
  });

  it("by default a step on an agent with no in-process function runs as a scheduler task on the executor", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "symbiont-rt-"));
    mkdirSync(join(dataDir, "workflows"));
    writeFileSync(
      join(dataDir, "workflows", "two.yaml"),
      "id: two\nsteps:\n  - id: a\n    agent: { name: doubler }\n    input: { v: '{{ parameters.v }}' }\n  - id: b\n    agent: { name: doubler }\n    input: { v: '{{ steps.a.output.v }}' }\noutput: '{{ steps.b.output }}'\n",
    );
    const runtime = await createRuntime({ config: { data_dir: dataDir, store: { kind: "memory" } }, logger: silentLogger() });
    const agent = await runtime.lifecycle.createAgent(parseAgentConfig({ name: "doubler" }));
    runtime.executor.registerHandler(agent.id, { onTask: (input) => ({ v: (input as { v: number }).v * 2 }) });
    await runtime.lifecycle.initializeAgent(agent.id);
    await runtime.lifecycle.startAgent(agent.id);
    const before = (await runtime.scheduler.getSchedulerMetrics()).completed;
    const started = await runtime.workflows.start("two", { v: 3 });
    const done = await runtime.workflows.wait(started.execution_id);
    expect(done.output).toEqual({ v: 12 });
    expect((await runtime.scheduler.getSchedulerMetrics()).completed - before).toBe(2);
    await runtime.shutdown();
  });

  it("a bad workflow file stops start-up with WORKFLOW_INVALID", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "symbiont-rt-"));
    mkdirSync(join(dataDir, "workflows"));
    writeFileSync(join(dataDir, "workflows", "bad.json"), "{\"id\": \"bad\", \"steps\": []}");
    await expect(createRuntime({ config: { data_dir: dataDir }, logger: silentLogger() })).rejects.toMatchObject({ code: "WORKFLOW_INVALID" });
  });
});
