import { spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BuiltinAuthorizer } from "../core/authorizer.js";
import { SystemClock } from "../core/clock.js";
import { DslError, PolicyError } from "../core/errors.js";
import { RuntimeEvents, type RuntimeEvent } from "../core/events.js";
import { SandboxId } from "../core/ids.js";
import { silentLogger } from "../core/logger.js";
import type { CommandResult, SandboxOrchestrator } from "../sandbox/types.js";
import { createRuntime } from "../runtime.js";
import { compileDsl, type DslFile } from "./extract.js";
import { createDslHost, type DslHostDeps } from "./host.js";
import { OpenAiCompatibleProvider } from "./llm.js";
import { runDslAgent, type DslRunLimits } from "./runner.js";
import { SandboxToolRegistry } from "./tools.js";

const LIMITS: DslRunLimits = { maxSteps: 1_000_000, maxDepth: 100, maxMemoryMb: 64, timeoutMs: 15_000 };

function setup(extra: Partial<DslHostDeps> = {}) {
  const clock = new SystemClock();
  const logger = silentLogger();
  const events = new RuntimeEvents(clock, logger);
  const seen: RuntimeEvent[] = [];
  events.onAny((e) => seen.push(e));
  const host = createDslHost({ logger, events, clock, authorizer: new BuiltinAuthorizer(), ...extra });
  return { host, events, seen };
}

/** Executes commands as child processes: enough of the orchestrator contract for the registry's tests. */
function processOrchestrator(): SandboxOrchestrator & { commands: string[] } {
  const commands: string[] = [];
  const o = {
    commands,
    async executeCommand(_id: SandboxId, command: string, args: readonly string[], options?: { stdin?: string | Uint8Array }): Promise<CommandResult> {
      commands.push([command, ...args].join(" "));
      const started = Date.now();
      return new Promise((resolve) => {
        const child = spawn(command, [...args], { stdio: ["pipe", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        child.on("close", (code) =>
          resolve({ exit_code: code ?? -1, stdout, stderr, duration_ms: Date.now() - started, timed_out: false, oom_killed: false, truncated: false }),
        );
        child.stdin.end(options?.stdin ?? "");
      });
    },
  };
  return o as unknown as SandboxOrchestrator & { commands: string[] };
}

const run = (file: DslFile, input: unknown, host: ReturnType<typeof setup>["host"], limits = LIMITS, agent?: string) =>
  runDslAgent({ file, input, host, limits, ...(agent ? { agent } : {}), sandbox_id: SandboxId.new() });

describe("dsl runner - worker thread", () => {
  it("runs a body with the task input bound to its parameters and returns its value", async () => {
    const file = compileDsl('agent sum(xs: List<int>, label: String) -> String {\n with {\n let t = 0;\n for x in xs { t += x; }\n format("{}={}", label, t)\n }\n}\n');
    const r = await run(file, { xs: [1, 2, 3], label: "total" }, setup().host);
    expect(r.value).toBe("total=6");
    expect(r.steps).toBeGreaterThan(3);
  });

  it("checks the task input against the parameter types", async () => {
    const file = compileDsl("type P = { n: int }\nagent a(p: P, tags: List<String>, o: Option<int>) {\n with { p.n }\n}\n");
    const { host } = setup();
    await expect(run(file, { p: { n: 1 }, tags: ["x"] }, host)).resolves.toMatchObject({ value: 1 });
    await expect(run(file, { p: { n: "1" }, tags: [] }, host)).rejects.toThrow(/bad task input: p\.n must be int/);
    await expect(run(file, { p: { n: 1 } }, host)).rejects.toThrow(/missing 'tags'/);
    await expect(run(file, { p: { n: 1 }, tags: [2] }, host)).rejects.toThrow(/tags\[0\] must be String/);
  });

  it("an uncaught error fails the run with DSL_RUNTIME_ERROR and its line:col", async () => {
    const file = compileDsl('agent a {\n with {\n let x = 1;\n error("broken", x)\n }\n}\n');
    const err = await run(file, {}, setup().host).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DslError);
    expect((err as DslError).code).toBe("DSL_RUNTIME_ERROR");
    expect((err as DslError).message).toContain("4:2: broken 1");
  });

  it("an endless loop is stopped by the step budget", async () => {
    const file = compileDsl("function spin(n: int) -> int { spin(n) }\nagent a(xs: List<int>) {\n with {\n let t = 0;\n for a in xs { for b in xs { for c in xs { t += 1; } } }\n t\n }\n}\n");
    const xs = Array.from({ length: 1000 }, (_, i) => i);
    const err = await run(file, { xs }, setup().host, { ...LIMITS, maxSteps: 200_000 }).catch((e: unknown) => e);
    expect((err as DslError).code).toBe("DSL_LIMIT_EXCEEDED");
    expect((err as DslError).message).toMatch(/step budget of 200000 exhausted/);
  });

  it("a runaway body is stopped by the timeout while the main event loop stays responsive", async () => {
    const file = compileDsl("agent a(xs: List<int>) {\n with {\n let t = 0;\n for a in xs { for b in xs { for c in xs { t += 1; } } }\n t\n }\n}\n");
    const xs = Array.from({ length: 2000 }, (_, i) => i);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const started = Date.now();
    const err = await run(file, { xs }, setup().host, { ...LIMITS, maxSteps: Number.MAX_SAFE_INTEGER, timeoutMs: 1500 }).catch((e: unknown) => e);
    clearInterval(timer);
    expect((err as DslError).code).toBe("DSL_LIMIT_EXCEEDED");
    expect((err as DslError).message).toMatch(/timed out after 1500 ms/);
    expect(Date.now() - started).toBeLessThan(10_000);
    // The interval kept firing during the run: the loop ran on another thread.
    expect(ticks).toBeGreaterThan(20);
  });

  it("runaway recursion is stopped by the depth limit", async () => {
    const file = compileDsl("function f(n: int) -> int { f(n + 1) }\nagent a {\n with { f(0) }\n}\n");
    const err = await run(file, {}, setup().host, { ...LIMITS, maxDepth: 64 }).catch((e: unknown) => e);
    expect((err as DslError).code).toBe("DSL_LIMIT_EXCEEDED");
    expect((err as DslError).message).toMatch(/call depth exceeded 64/);
  });

  it("a body that allocates without bound is stopped by the worker's memory cap", async () => {
    const file = compileDsl('agent a(xs: List<int>) {\n with {\n let keep = [];\n let s = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";\n for a in xs { for b in xs { keep.push([s, a, b, { a: a, b: b }]); } }\n keep.len()\n }\n}\n');
    const xs = Array.from({ length: 5000 }, (_, i) => i);
    const err = await run(file, { xs }, setup().host, { ...LIMITS, maxSteps: Number.MAX_SAFE_INTEGER, maxMemoryMb: 32, timeoutMs: 60_000 }).catch((e: unknown) => e);
    expect((err as DslError).code).toBe("DSL_LIMIT_EXCEEDED");
    expect((err as DslError).message).toMatch(/memory bound of 32 MB exceeded/);
  });

  it("log reaches the runtime's events", async () => {
    const { host, seen } = setup();
    await run(compileDsl('agent a {\n with { log("warn", "careful", 1); 0 }\n}\n'), {}, host);
    expect(seen.find((e) => e.type === "dsl.logged")).toMatchObject({ level: "warn", message: "careful 1", agent_name: "a" });
  });
});

describe("dsl runner - effects under policy", () => {
  it("an unknown tool gives {status: not_executed}, a declared tool runs in the agent's sandbox", async () => {
    const orchestrator = processOrchestrator();
    const tools = new SandboxToolRegistry([{ name: "echo_json", command: "cat", args: [], network: false }], orchestrator);
    const { host, seen } = setup({ tools });
    const file = compileDsl('agent a {\n with {\n let r = echo_json("x", n = 1);\n let u = nmap("host");\n [r.status, r.output.args, r.output.named.n, u.status, u.reason]\n }\n}\n');
    const r = await run(file, {}, host);
    expect(r.value).toEqual(["ok", ["x"], 1, "not_executed", "no tool named 'nmap' is declared (declared: echo_json)"]);
    expect(orchestrator.commands).toEqual(["cat"]);
    expect(seen.filter((e) => e.type === "dsl.tool_called").map((e) => (e as { tool: string; status: string }).status)).toEqual(["ok", "not_executed"]);
  });

  it("a declared tool without an orchestrator fails with TOOL_UNAVAILABLE, catchable as ToolError", async () => {
    const tools = new SandboxToolRegistry([{ name: "scan", command: "nmap", args: [], network: false }], undefined);
    const file = compileDsl('agent a {\n with {\n try { scan(); "ran" } catch (ToolError e) { e.code }\n }\n}\n');
    expect((await run(file, {}, setup({ tools }).host)).value).toBe("TOOL_UNAVAILABLE");
  });

  it("a policy block denying tool calls blocks the tool and the denial is catchable", async () => {
    const orchestrator = processOrchestrator();
    const tools = new SandboxToolRegistry([{ name: "echo_json", command: "cat", args: [], network: false }], orchestrator);
    const { host, seen } = setup({ tools });
    const file = compileDsl('agent a {\n policy p {\n deny: tool.call if resource == "echo_json"\n }\n with {\n try { echo_json(); "ran" } catch (PolicyDenied e) { e.message }\n }\n}\n');
    const r = await run(file, {}, host);
    expect(r.value).toMatch(/tool\.call denied: denied by the agent's policy 'p'/);
    expect(orchestrator.commands).toEqual([]);
    expect(seen.find((e) => e.type === "policy.denied")).toMatchObject({ action: "tool.call", resource: "echo_json", policy_id: "a.p" });
  });

  it("a network tool is checked as sandbox.network, which the built-in default denies", async () => {
    const orchestrator = processOrchestrator();
    const tools = new SandboxToolRegistry([{ name: "fetch", command: "cat", args: [], network: true }], orchestrator);
    const err = await run(compileDsl('agent a {\n with { fetch("https://example.org") }\n}\n'), {}, setup({ tools }).host).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PolicyError);
    expect((err as PolicyError).code).toBe("POLICY_DENIED");
    expect(orchestrator.commands).toEqual([]);
  });

  describe("llm", () => {
    let server: Server;
    let baseUrl: string;
    const requests: { auth: string | undefined; body: { model: string; messages: { role: string; content: string }[]; temperature?: number } }[] = [];

    beforeAll(async () => {
      server = createServer((req, res) => {
        let body = "";
        req.on("data", (d: Buffer) => (body += d.toString()));
        req.on("end", () => {
          if (req.url !== "/v1/chat/completions" || req.method !== "POST") {
            res.writeHead(404).end();
            return;
          }
          const parsed = JSON.parse(body) as (typeof requests)[number]["body"];
          requests.push({ auth: req.headers.authorization, body: parsed });
          const last = parsed.messages[parsed.messages.length - 1]?.content ?? "";
          res.writeHead(200, { "content-type": "application/json" }).end(
            JSON.stringify({
              id: "c1",
              object: "chat.completion",
              model: parsed.model,
              choices: [{ index: 0, message: { role: "assistant", content: `echo: ${last}` }, finish_reason: "stop" }],
              usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
            }),
          );
        });
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    it("reason() and llm_call() get the answer of a local OpenAI-compatible server", async () => {
      const llm = new OpenAiCompatibleProvider({ base_url: baseUrl, api_key: "sk-test", model: "test-model", timeout_ms: 5000 });
      const { host, seen } = setup({ llm });
      const file = compileDsl('agent a(q: String) {\n with {\n let short = reason(q, system = "be brief", temperature = 0);\n let full = llm_call([{ role: "user", content: "again" }], model = "other");\n [short, full.content, full.model, full.usage.total_tokens]\n }\n}\n');
      const r = await run(file, { q: "what is 6*7?" }, host);
      expect(r.value).toEqual(["echo: what is 6*7?", "echo: again", "other", 5]);
      expect(requests[0]).toEqual({
        auth: "Bearer sk-test",
        body: { model: "test-model", temperature: 0, messages: [{ role: "system", content: "be brief" }, { role: "user", content: "what is 6*7?" }] },
      });
      expect(seen.filter((e) => e.type === "dsl.llm_called")).toHaveLength(2);
    });

    it("an agent whose policy denies network_access is blocked when it calls the LLM", async () => {
      const before = requests.length;
      const llm = new OpenAiCompatibleProvider({ base_url: baseUrl, model: "m", timeout_ms: 5000 });
      const file = compileDsl("agent a {\n policy offline {\n deny: network_access\n }\n with { reason(\"hello\") }\n}\n");
      const err = await run(file, {}, setup({ llm }).host).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PolicyError);
      expect((err as PolicyError).message).toMatch(/network\.http denied: denied by the agent's policy 'offline' \(deny: network_access\)/);
      expect(requests.length).toBe(before);
    });

    it("without a configured provider the call fails with LLM_NOT_CONFIGURED at the call", async () => {
      const file = compileDsl('agent a {\n with {\n try { reason("x") } catch (LlmError e) { e.code + " " + to_string(e.line) }\n }\n}\n');
      expect((await run(file, {}, setup().host)).value).toBe("LLM_NOT_CONFIGURED 3");
    });

    it("a provider error is LLM_REQUEST_FAILED", async () => {
      const llm = new OpenAiCompatibleProvider({ base_url: `${baseUrl}/missing`, model: "m", timeout_ms: 5000 });
      const file = compileDsl('agent a {\n with {\n try { reason("x") } catch (LlmError e) { e.code }\n }\n}\n');
      expect((await run(file, {}, setup({ llm }).host)).value).toBe("LLM_REQUEST_FAILED");
    });
  });

  it("delegate between two DSL agents: the second agent's body runs and its result comes back", async () => {
    const file = compileDsl((await import("node:fs")).readFileSync(new URL("./corpus/valid/multi-agent.symbi", import.meta.url), "utf8"));
    const delegated: string[] = [];
    const { host } = setup({
      scheduler: {
        async delegate(_from, agent, input) {
          delegated.push(agent);
          return (await runDslAgent({ file, agent, input, host, limits: LIMITS })).value;
        },
      },
    });
    const r = await run(file, { tasks: ["a", "b"] }, host, LIMITS, "planner");
    expect(r.value).toEqual(["done: a", "done: b"]);
    expect(delegated).toEqual(["worker", "worker"]);
    // A failure of the delegated task comes back to the delegating agent as the task's error.
    const err = await run(compileDsl(file.agents[1]!.config.dsl_source.replace('delegate("worker"', 'delegate("other"')), { tasks: ["a"] }, host, LIMITS, "planner").catch(
      (e: unknown) => e,
    );
    expect((err as DslError).details).toMatchObject({ code: "DSL_AGENT_NOT_FOUND" });
  });

  it("publish without a wired bus fails with a clear error naming the missing collaborator", async () => {
    const err = await run(compileDsl('agent a {\n with { publish("t", 1) }\n}\n'), {}, setup().host).catch((e: unknown) => e);
    expect((err as DslError).message).toMatch(/publish needs a message bus, and none is wired to the DSL host/);
  });

  it("spawn_agent creates and starts an agent through the runtime's lifecycle", async () => {
    const runtime = await createRuntime({ config: { store: { kind: "memory" } }, logger: silentLogger() });
    try {
      const file = runtime.dsl.compile((await import("node:fs")).readFileSync(new URL("./corpus/valid/spawner.symbi", import.meta.url), "utf8"));
      const r = await runtime.dsl.run(file, { input: { count: 2 } });
      const ids = r.value as string[];
      expect(ids).toHaveLength(2);
      const agents = await runtime.lifecycle.listAgents();
      expect(agents.map((a) => [a.config.name, a.state]).sort()).toEqual([
        ["helper_a", "Running"],
        ["helper_b", "Running"],
      ]);
    } finally {
      await runtime.shutdown();
    }
  });
});
