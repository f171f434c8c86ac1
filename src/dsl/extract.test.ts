import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DslError } from "../core/errors.js";
import { compileDsl, extract, isExecutionMode } from "./extract.js";
import { parse } from "./parser.js";
import { CORPUS, corpusFiles } from "./test-helpers.js";

function problems(source: string): string[] {
  const p = parse(source);
  expect(p.diagnostics).toEqual([]);
  return extract(p.program, source).diagnostics.map((d) => `${d.span.start.line}:${d.span.start.col} ${d.message}`);
}

const agentWith = (attrs: string): string => `agent a {\n    with ${attrs} {\n        1\n    }\n}\n`;

describe("dsl extraction - agents", () => {
  it("every valid corpus file extracts without problems", () => {
    for (const f of corpusFiles("valid")) expect(problems(f.source), f.name).toEqual([]);
  });

  it("builds an AgentConfig with name, capabilities, tier, limits, metadata and policies", () => {
    const source = readFileSync(join(CORPUS, "valid", "data-validator.symbi"), "utf8");
    const file = compileDsl(source, "data-validator.symbi");
    const [agent] = file.agents;
    expect(agent?.name).toBe("data_validator");
    const c = agent!.config;
    expect(c.name).toBe("data_validator");
    expect(c.dsl_source).toBe(source);
    expect(c.security_tier).toBe("Tier1");
    expect(c.resource_limits.execution_timeout).toBe(30_000);
    expect(c.resource_limits.memory_mb).toBe(256);
    expect(c.capabilities).toEqual([{ Custom: "validate" }, { Custom: "report" }]);
    expect(c.metadata).toMatchObject({ version: "1.2.0", author: "data-platform", tags: "validation, etl, customers" });
    expect(c.execution_mode).toEqual({ type: "Ephemeral" });
    expect(agent!.params.map((p) => p.name)).toEqual(["records", "strict"]);
    expect(agent!.returnType?.name).toBe("ValidationReport");
    const rules = [
      { effect: "allow", action: "read", description: "allow: read(records)" },
      { effect: "deny", action: "network.*", description: "deny: network_access" },
      { effect: "deny", action: "sandbox.network", description: "deny: network_access" },
      { effect: "audit", action: "validation_result", condition: "context.strict == true", description: "audit: validation_result if strict == true" },
    ];
    const policy = { id: "data_validator.data_handling", name: "data_handling", description: "policy data_handling of data_validator", priority: 0, enabled: true };
    expect(agent!.policies).toEqual([{ ...policy, rules }]);
    // The engine enforces only the restrictions: an agent's own allow or audit would grant there.
    expect(c.policies).toEqual([{ ...policy, rules: rules.filter((r) => r.effect === "deny") }]);
    expect(c.metadata["dsl.agent"]).toBe("data_validator");
    expect(file.types.map((t) => t.name)).toEqual(["CustomerRecord", "ValidationReport"]);
  });

  it("maps every sandbox name to its tier, case-insensitively", () => {
    const cases: [string, string][] = [
      ['"docker"', "Tier1"],
      ["Docker", "Tier1"],
      ["tier1", "Tier1"],
      ['"gVisor"', "Tier2"],
      ["TIER2", "Tier2"],
      ["firecracker", "Tier3"],
      ["tier3", "Tier3"],
      ["bubblewrap", "Tier0"],
      ["tier0", "Tier0"],
    ];
    for (const [value, tier] of cases) {
      expect(compileDsl(agentWith(`sandbox = ${value}`)).agents[0]?.config.security_tier, value).toBe(tier);
    }
    expect(compileDsl(agentWith("timeout = 5s")).agents[0]?.config.security_tier).toBe("Tier0");
  });

  it("reads timeout as a duration, or a bare number of seconds", () => {
    const t = (v: string): number | undefined => compileDsl(agentWith(`timeout = ${v}`)).agents[0]?.config.resource_limits.execution_timeout;
    expect(t("30.seconds")).toBe(30_000);
    expect(t("2m")).toBe(120_000);
    expect(t("1.hours")).toBe(3_600_000);
    expect(t("45")).toBe(45_000);
    expect(t("0.5")).toBe(500);
  });

  it("reads max_memory_mb, max_cpu_cores and memory/security/privacy", () => {
    const c = compileDsl(agentWith('max_memory_mb = 64, max_cpu_cores = 0.5, memory = "persistent", security = high, privacy = "strict"')).agents[0]!.config;
    expect(c.resource_limits.memory_mb).toBe(64);
    expect(c.resource_limits.cpu_cores).toBe(0.5);
    expect(c.metadata).toMatchObject({ "dsl.memory": "persistent", "dsl.security": "high", "dsl.privacy": "strict" });
  });

  it("maps known capability names to the runtime's and keeps the rest as custom", () => {
    const c = compileDsl('agent a {\n capabilities = ["network", FileSystem, "database", "gpu"]\n}\n').agents[0]!.config;
    expect(c.capabilities).toEqual(["Network", "FileSystem", "Database", { Custom: "gpu" }]);
    expect(c.execution_mode).toEqual({ type: "Persistent" });
  });

  it("an unknown sandbox tier is an error at its span", () => {
    expect(problems(agentWith('sandbox = "kvm"'))).toEqual([
      '2:20 unknown sandbox tier "kvm": use docker/tier1, gvisor/tier2, firecracker/tier3 or bubblewrap/tier0',
    ]);
  });

  it("invalid timeouts, memory and cpu are errors at their spans", () => {
    expect(problems(agentWith('timeout = "soon"'))).toEqual(["2:20 invalid timeout: use a positive duration such as 30.seconds or 2m, or a number of seconds"]);
    expect(problems(agentWith("timeout = 0"))).toHaveLength(1);
    expect(problems(agentWith("max_memory_mb = 1.5"))).toEqual(["2:26 invalid max_memory_mb: use a positive whole number of megabytes"]);
    expect(problems(agentWith("max_cpu_cores = 0"))).toEqual(["2:26 invalid max_cpu_cores: use a positive number of cores, e.g. 1 or 0.5"]);
  });

  it("unknown with attributes, a second with block and duplicate names are errors", () => {
    expect(problems(agentWith("retries = 3"))[0]).toMatch(/^2:10 unknown with attribute 'retries' \(known: sandbox, timeout/);
    expect(problems("agent a {\n with { 1 }\n with { 2 }\n}\n")).toEqual(["3:2 agent 'a' already has a with block at 2:2; an agent has one body"]);
    expect(problems("agent a {}\nagent a {}\n")).toEqual(["2:7 agent 'a' is already defined at 1:7"]);
  });

  it("a name that fails AgentConfig validation is reported at the agent name", () => {
    const long = "a".repeat(200);
    expect(problems(`agent ${long} {}\n`)[0]).toMatch(/^1:7 agent 'a+': name: /);
  });

  it("policy rules must name an action", () => {
    expect(problems("policy p {\n deny: 1 + 2\n}\n")).toEqual([
      "2:8 policy 'p': a rule names an action (a name, a dotted name, a call such as read(x), a string or a list), found '1 + 2'",
    ]);
  });

  it("compiles top-level policies with lists, strings and aliases", () => {
    const file = compileDsl(readFileSync(join(CORPUS, "valid", "top-level-policy.symbi"), "utf8"));
    expect(file.policies[0]?.rules.map((r) => `${r.effect} ${r.action}${r.condition ? ` if ${r.condition}` : ""}`)).toEqual([
      "deny network.*",
      "deny sandbox.network",
      "deny agent.spawn",
      "deny file.upload",
      "audit tool.call",
      "require message.send if context.payload_size < 1048576",
      "allow * if context.role == \"admin\"",
    ]);
    // Each agent of the file carries the file's policies: all rules for the host, restrictions for the engine.
    const [agent] = file.agents;
    expect(agent?.policies.map((p) => p.id)).toContain("global_guardrails");
    expect(agent?.config.policies.find((p) => p.id === "global_guardrails")?.rules.map((r) => r.effect)).toEqual(["deny", "deny", "deny", "deny", "require"]);
  });

  it("policy conditions must be policy-engine conditions; other names read the request context", () => {
    expect(problems('policy p {\n deny: tool.call if resource.starts_with("rm")\n}\n')).toEqual([
      "2:21 policy 'p': the condition 'resource.starts_with(\"rm\")' is not a policy condition: unexpected '('",
    ]);
    expect(problems('policy p {\n deny: tool.call if starts_with(resource, "rm") && level > 2\n}\n')).toEqual([]);
    expect(problems('policy p {\n deny: "bad action!"\n}\n')[0]).toMatch(/^2:8 policy 'p': 'bad action!' is not a valid action/);
  });

  it("compileDsl throws DSL_PARSE_ERROR / DSL_EXTRACTION_ERROR listing file:line:col", () => {
    let e: unknown;
    try {
      compileDsl("agent a {\n with { let x = 1 }\n}\n", "x.symbi");
    } catch (err) {
      e = err;
    }
    expect(e).toBeInstanceOf(DslError);
    expect((e as DslError).code).toBe("DSL_PARSE_ERROR");
    expect((e as DslError).message).toContain("x.symbi:2:");
    expect(() => compileDsl(agentWith("sandbox = nope"), "y.symbi")).toThrow(/y\.symbi:2:20: unknown sandbox tier/);
    try {
      compileDsl(agentWith("sandbox = nope"), "y.symbi");
    } catch (err) {
      expect((err as DslError).code).toBe("DSL_EXTRACTION_ERROR");
      expect((err as DslError).details?.diagnostics).toEqual([
        {
          location: "y.symbi:2:20",
          line: 2,
          col: 20,
          message: expect.stringContaining("unknown sandbox tier"),
          text: expect.stringMatching(/^y\.symbi:2:20: unknown sandbox tier/),
        },
      ]);
    }
  });
});

describe("dsl extraction - schedules, channels, memory, webhooks", () => {
  it("extracts cron and at schedules and links a cron schedule to its agent's execution mode", () => {
    const file = compileDsl(readFileSync(join(CORPUS, "valid", "schedules.symbi"), "utf8"));
    expect(file.schedules.map(({ span: _s, ...s }) => s)).toEqual([
      { name: "nightly_report", cron: "0 0 2 * * *", timezone: "UTC", agent: "reporter", one_shot: false },
      { name: "one_time_migration", at: Date.parse("2030-01-01T09:00:00Z"), timezone: "UTC", agent: "migrator", policy: "migration_window", one_shot: true },
    ]);
    expect(file.agents[0]?.config.execution_mode).toEqual({ type: "Scheduled", interval: 86_400_000, cron: "0 0 2 * * *", timezone: "UTC" });
    expect(file.agents[0]?.config.resource_limits.execution_timeout).toBe(300_000);
  });

  it("a schedule must name an agent of the file, and an agent has one recurring cron schedule", () => {
    const agent = "agent a {\n with { 1 }\n}\n";
    expect(problems(`schedule s {\n cron = "0 0 * * * *"\n}\n${agent}`)).toEqual(["1:1 schedule 's' must name the agent it runs (agent = NAME)"]);
    expect(problems(`schedule s {\n at = "2030-01-01T00:00:00Z"\n}\n${agent}`)).toEqual(["1:1 schedule 's' must name the agent it runs (agent = NAME)"]);
    expect(problems(`schedule s {\n cron = "0 0 * * * *"\n agent = ghost\n}\n${agent}`)).toEqual(["1:1 schedule 's' runs agent 'ghost', which this file does not define"]);
    expect(problems(`schedule s {\n cron = "0 0 * * * *"\n agent = a\n}\nschedule t {\n cron = "0 5 * * * *"\n agent = a\n}\n${agent}`)).toEqual([
      "5:1 agent 'a' already runs on schedule 's'; an agent has one recurring cron schedule without a policy",
    ]);
  });

  it("one-shot and policy-governed schedules are jobs beside the agent's own execution mode", () => {
    const file = compileDsl(
      [
        'schedule every_hour {\n cron = "0 0 * * * *"\n agent = a\n}',
        'schedule once {\n at = "2030-01-01T00:00:00Z"\n agent = a\n}',
        'schedule first_monday {\n cron = "0 0 9 * * 1"\n one_shot = true\n agent = a\n}',
        'schedule guarded {\n cron = "0 30 * * * *"\n policy = window\n agent = a\n}',
        "policy window {\n deny: schedule.run if time.hour > 5\n}",
        "agent a {\n with { 1 }\n}\n",
      ].join("\n"),
    );
    expect(file.schedules.filter(isExecutionMode).map((s) => s.name)).toEqual(["every_hour"]);
    expect(file.agents[0]?.config.execution_mode).toMatchObject({ type: "Scheduled", cron: "0 0 * * * *" });
    expect(file.schedules.find((s) => s.name === "first_monday")).toMatchObject({ cron: "0 0 9 * * 1", one_shot: true });
  });

  it("an at schedule cannot be one_shot = false; a schedule's file policy must be able to stop a run", () => {
    const agent = "agent a {\n with { 1 }\n}\n";
    expect(problems(`schedule s {\n at = "2030-01-01T00:00:00Z"\n one_shot = false\n agent = a\n}\n${agent}`)).toEqual([
      "3:13 schedule 's': an 'at' schedule runs once; 'one_shot = false' contradicts it",
    ]);
    expect(problems(`schedule s {\n at = "2030-01-01T00:00:00Z"\n policy = p\n agent = a\n}\npolicy p {\n allow: schedule.run\n}\n${agent}`)).toEqual([
      "1:1 schedule 's': policy 'p' has no deny or require rule, so it can never stop a run",
    ]);
  });

  it("keeps the schedule's timezone", () => {
    const file = compileDsl(readFileSync(join(CORPUS, "valid", "incident-tracker.symbi"), "utf8"));
    expect(file.schedules[0]).toMatchObject({ cron: "0 */15 * * * *", timezone: "Europe/Berlin", agent: "incident_tracker" });
    expect(file.agents[0]?.config.execution_mode).toMatchObject({ type: "Scheduled", interval: 900_000, timezone: "Europe/Berlin" });
  });

  it("a schedule needs exactly one of cron and at, a valid cron and a valid timestamp", () => {
    expect(problems('schedule s {\n agent = a\n}\n')).toEqual(["1:1 schedule 's' needs exactly one of 'cron' or 'at'"]);
    expect(problems('schedule s {\n cron = "* * * * *"\n at = "2030-01-01T00:00:00Z"\n}\n')).toEqual([
      "1:1 schedule 's' needs exactly one of 'cron' or 'at' (it has both)",
    ]);
    expect(problems('schedule s {\n cron = "not a cron"\n}\n')[0]).toMatch(/^2:9 schedule 's': invalid cron expression "not a cron"/);
    expect(problems('schedule s {\n at = "tomorrow"\n}\n')).toEqual(['2:7 schedule \'s\': \'at\' must be an ISO 8601 timestamp such as "2030-01-01T09:00:00Z"']);
    expect(problems('schedule s {\n cron = "* * * * *"\n one_shot = 1\n}\n')).toContain("3:13 schedule 's': 'one_shot' must be true or false");
    expect(problems('schedule s {\n cron = "* * * * *"\n every = 5m\n}\n')[1]).toMatch(/^3:2 schedule 's': unknown attribute 'every'/);
  });

  it("extracts channels with platform, policies and data classification; platform is required", () => {
    const file = compileDsl(readFileSync(join(CORPUS, "valid", "channels.symbi"), "utf8"));
    const [support, alerts] = file.channels;
    expect(support).toMatchObject({ name: "support", platform: "teams", attributes: { workspace: "contoso", default_agent: "support_bot" } });
    expect(support?.data_classification).toEqual({ tickets: "confidential", faq: "public" });
    expect(support?.policies[0]?.rules.map((r) => r.effect)).toEqual(["allow", "deny", "require", "audit"]);
    expect(alerts?.attributes.channels).toEqual(["#alerts", "#ops"]);
    expect(problems("channel c {\n name = \"x\"\n}\n")).toEqual(["1:1 channel 'c' requires a 'platform' attribute"]);
  });

  it("extracts memory blocks with search and webhooks with filter; path is required", () => {
    const mem = compileDsl(readFileSync(join(CORPUS, "valid", "memory-store.symbi"), "utf8")).memories;
    expect(mem[0]?.attributes).toEqual({
      store: "sqlite",
      path: "data/conversations.db",
      retention: 90 * 86_400_000,
      max_entries: 10000,
      search: { index: "embedding", dimensions: 1536, metric: "cosine" },
    });
    const hooks = compileDsl(readFileSync(join(CORPUS, "valid", "webhook-handler.symbi"), "utf8")).webhooks;
    expect(hooks[0]?.attributes).toMatchObject({ path: "/hooks/github", method: "POST", filter: { event_types: ["push", "pull_request", "issues"], branch: "main" } });
    expect(problems("webhook w {\n method \"POST\"\n}\n")).toEqual(["1:1 webhook 'w' requires a 'path' attribute"]);
  });

  it("extracts file metadata of every value kind", () => {
    const file = compileDsl(readFileSync(join(CORPUS, "valid", "metadata-only.symbi"), "utf8"));
    expect(file.metadata).toEqual({
      name: "catalog",
      version: "1.0",
      author: "someone",
      maintainers: ["ana", "bo"],
      limits: { retries: 3, backoff: 5000 },
      enabled: true,
      priority: "high",
      ratio: 0.75,
      big: 1_000_000,
    });
  });
});
