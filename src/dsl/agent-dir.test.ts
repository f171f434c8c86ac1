import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { DslError } from "../core/errors.js";
import { silentLogger } from "../core/logger.js";
import { createRuntime, type Runtime } from "../runtime.js";
import { loadAgentDir } from "./agent-dir.js";

const corpus = (name: string): string => readFileSync(new URL(`./corpus/valid/${name}`, import.meta.url), "utf8");

function dirWith(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "symbiont-agents-"));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

async function withRuntime<T>(fn: (r: Runtime) => Promise<T>, dataDir?: string): Promise<T> {
  const runtime = await createRuntime({
    config: dataDir ? { data_dir: dataDir, store: { kind: "sqlite" }, lifecycle: { enable_auto_recovery: false } } : { store: { kind: "memory" } },
    logger: silentLogger(),
  });
  try {
    return await fn(runtime);
  } finally {
    await runtime.shutdown();
  }
}

const names = async (r: Runtime): Promise<string[][]> => (await r.lifecycle.listAgents()).map((a) => [a.config.name, a.state]).sort();

describe("dsl - symbiont up --agents DIR", () => {
  it("creates and starts the agents of every .symbi file; their tasks run their bodies", async () => {
    const dir = dirWith({ "team.symbi": corpus("multi-agent.symbi"), "sum.symbi": "agent summer(xs: List<int>) {\n with { xs.sum() }\n}\n", "notes.txt": "ignored" });
    await withRuntime(async (r) => {
      const report = await loadAgentDir(dir, r);
      expect(report.files.map((f) => f.slice(dir.length + 1))).toEqual(["sum.symbi", "team.symbi"]);
      expect(report.created).toEqual(["summer", "worker", "planner"]);
      expect(await names(r)).toEqual([
        ["planner", "Running"],
        ["summer", "Running"],
        ["worker", "Running"],
      ]);
      const planner = (await r.lifecycle.listAgents()).find((a) => a.config.name === "planner");
      const task = await r.scheduler.scheduleTask({ agent_id: planner!.id, input: { tasks: ["x"] } });
      expect(await r.scheduler.waitForTask(task.id)).toMatchObject({ state: "Completed", result: ["done: x"] });
    });
  });

  it("any error in any file stops the load with file:line:col for each problem, and nothing is created", async () => {
    const dir = dirWith({
      "a-good.symbi": "agent fine {\n with { 1 }\n}\n",
      "b-parse.symbi": "agent broken {\n with {\n let x = 1\n }\n}\n",
      "c-extract.symbi": 'agent odd {\n with sandbox = "vmware" { 1 }\n}\n',
    });
    await withRuntime(async (r) => {
      const err = (await loadAgentDir(dir, r).catch((e: unknown) => e)) as DslError;
      expect(err.code).toBe("DSL_PARSE_ERROR");
      const lines = err.message.split("\n").slice(1).map((l) => l.trim().slice(dir.length + 1));
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(/^b-parse\.symbi:3:\d+: /);
      expect(lines[1]).toMatch(/^c-extract\.symbi:2:17: unknown sandbox tier "vmware"/);
      expect(await names(r)).toEqual([]);
    });
  });

  it("an agent name defined twice, or taken by an agent not loaded from DSL, is an error", async () => {
    const dir = dirWith({ "one.symbi": "agent same {\n with { 1 }\n}\n", "two.symbi": "\nagent same {\n with { 2 }\n}\n" });
    await withRuntime(async (r) => {
      const err = (await loadAgentDir(dir, r).catch((e: unknown) => e)) as DslError;
      expect(err.message).toContain(`${join(dir, "two.symbi")}:2:1: agent 'same' is also defined at ${join(dir, "one.symbi")}:1:1`);
      await r.lifecycle.createAgent((await import("../core/schemas.js")).parseAgentConfig({ name: "taken" }));
      const taken = (await loadAgentDir(dirWith({ "t.symbi": "agent taken {\n with { 1 }\n}\n" }), r).catch((e: unknown) => e)) as DslError;
      expect(taken.message).toMatch(/t\.symbi:1:1: an agent named 'taken' already exists \(.+\) and was not loaded from DSL/);
      expect(await names(r)).toEqual([["taken", "Created"]]);
    });
  });

  it("a directory that does not exist is an error naming it", async () => {
    await withRuntime(async (r) => {
      await expect(loadAgentDir("/nonexistent/agents", r)).rejects.toMatchObject({ code: "DSL_EXTRACTION_ERROR", message: expect.stringContaining("/nonexistent/agents") });
    });
  });

  it("on a durable store a restart leaves unchanged agents alone and re-extracts changed ones", async () => {
    const data = mkdtempSync(join(tmpdir(), "symbiont-agents-data-"));
    const dir = join(data, "agents");
    mkdirSync(dir);
    writeFileSync(join(dir, "a.symbi"), "agent keep {\n with { 1 }\n}\n");
    writeFileSync(join(dir, "b.symbi"), "agent change {\n with { 1 }\n}\n");
    const first = await withRuntime((r) => loadAgentDir(dir, r), data);
    expect(first.created).toEqual(["keep", "change"]);
    writeFileSync(join(dir, "b.symbi"), "agent change {\n with timeout = 7s { 2 }\n}\n");
    await withRuntime(async (r) => {
      const again = await loadAgentDir(dir, r);
      expect(again).toMatchObject({ created: [], updated: ["change"], unchanged: ["keep"] });
      const change = (await r.lifecycle.listAgents()).find((a) => a.config.name === "change");
      expect(change?.config.resource_limits.execution_timeout).toBe(7000);
      expect((await r.lifecycle.listAgents()).length).toBe(2);
    }, data);
  });
});
