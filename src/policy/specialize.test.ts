import { describe, expect, it } from "vitest";
import { agent, input, makeEngine, rules } from "../../test/helpers/policy.js";
import { compileCondition, specializeCondition } from "./condition.js";
import type { EvalInput } from "./input.js";

const CONDITIONS = [
  'metadata.team == "ops" && tier < Tier2',
  '"Database" in capabilities || resources.memory_mb > 1000',
  "tier >= Tier0 && time.hour >= 9",
  'action == "message.send" && resource == "t"',
  'agent.name == "worker" || agent.id == "a-2"',
  "len(capabilities) + 1 == 2 && !(isolation == null)",
  'starts_with(lower(metadata.team), "o") && context.x > [1, 2][0]',
  'resources["memory_mb"] * 2 >= 1024 || context.y',
  "agent.tier == tier && (false || time.weekday == 1)",
];

/** Inputs that share the fixed part (agent fields, action) and differ in everything else. */
const VARIANTS: Partial<EvalInput>[] = [
  {},
  { resource: "t", agentId: "a-2", isolation: null },
  { context: { x: 2, y: true }, now: Date.UTC(2025, 0, 7, 8, 0, 0) },
];

const AGENTS: Partial<EvalInput>[] = [
  {},
  { tier: 3, capabilities: ["Database"], metadata: { team: "web" } },
  { tier: null, capabilities: [], metadata: {}, resources: null, agentName: null },
  { action: "tool.call", resources: { memory_mb: 4096 } },
];

describe("condition specialisation", () => {
  it.each(CONDITIONS)("specialise - %s decides as the general form on every input sharing the fixed part", (cond) => {
    const general = compileCondition(cond);
    for (const a of AGENTS) {
      const fixed = input(a);
      const special = specializeCondition(cond, fixed);
      for (const v of VARIANTS) {
        const i = { ...fixed, ...v };
        expect({ cond, a, v, holds: typeof special === "function" ? special(i) : special }).toEqual({ cond, a, v, holds: general(i) });
      }
    }
  });

  it("specialise - a condition over the agent's fields alone becomes a constant", () => {
    expect(specializeCondition('metadata.team == "ops" && tier < Tier2', input())).toBe(true);
    expect(specializeCondition('metadata.team == "ops" && tier < Tier2', input({ tier: 2 }))).toBe(false);
    expect(typeof specializeCondition("tier >= Tier0 && time.hour >= 9", input())).toBe("function");
  });
});

describe("policy engine - rules specialised per agent", () => {
  it("engine - limits passed with a request are honoured after the agent's rules were specialised", async () => {
    const { engine, agents } = await makeEngine();
    const a = agent({ name: "w", resource_limits: { memory_mb: 512, cpu_cores: 1, disk_io_mbps: 1, network_io_mbps: 1, execution_timeout: 1000, idle_timeout: 0 } });
    agents.set(a.id, a);
    await engine.updatePolicy(rules("big", [{ effect: "deny", action: "resource.allocate", condition: "resources.memory_mb > 1024" }]));
    for (let i = 0; i < 3; i++) expect((await engine.check({ agent_id: a.id, action: "resource.allocate" })).allowed).toBe(true);
    const big = { memory_mb: 4096, cpu_cores: 1, disk_io_mbps: 1, network_io_mbps: 1, execution_timeout: 1000, idle_timeout: 0 };
    expect(await engine.check({ agent_id: a.id, action: "resource.allocate", context: { resource_limits: big } })).toMatchObject({ allowed: false, policy_id: "big" });
  });

  it("engine - a changed agent config or policy applies to the next decision", async () => {
    const { engine, agents } = await makeEngine();
    const a = agent({ name: "w", security_tier: "Tier1", metadata: { team: "ops" } });
    agents.set(a.id, a);
    const req = { agent_id: a.id, action: "message.send" };
    await engine.updatePolicy(rules("ops", [{ effect: "deny", action: "message.send", condition: 'metadata.team == "ops" && tier < Tier2' }]));
    for (let i = 0; i < 3; i++) expect((await engine.check(req)).allowed).toBe(false);
    agents.set(a.id, { ...a, security_tier: "Tier2" });
    for (let i = 0; i < 3; i++) expect((await engine.check(req)).allowed).toBe(true);
    agents.set(a.id, a);
    expect((await engine.check(req)).allowed).toBe(false);
    await engine.updatePolicy(rules("ops", [{ effect: "deny", action: "message.send", condition: 'metadata.team == "web"' }]));
    expect((await engine.check(req)).allowed).toBe(true);
    await engine.updatePolicy(rules("ops", [{ effect: "require", action: "message.send", condition: "tier >= Tier2", description: "Tier2+" }]));
    for (let i = 0; i < 3; i++) expect(await engine.check(req)).toMatchObject({ allowed: false, reason: expect.stringContaining("requirement not met") });
    await engine.deletePolicy("ops");
    expect((await engine.check(req)).allowed).toBe(true);
  });

  it("engine - explain reports the same rules once the agent's rules are specialised", async () => {
    const { engine, agents } = await makeEngine();
    const a = agent({ name: "w", security_tier: "Tier1", capabilities: ["Database"] });
    agents.set(a.id, a);
    await engine.updatePolicy(rules("p", [
      { effect: "allow", action: "tool.call", condition: '"Database" in capabilities' },
      { effect: "audit", action: "tool.call", condition: "tier >= Tier1 && time.hour >= 0" },
      { effect: "deny", action: "tool.call", condition: "tier >= Tier3" },
    ]));
    const before = await engine.explain(a.id, "tool.call", { agent_id: a.id, operation: "tool.call" });
    for (let i = 0; i < 3; i++) await engine.check({ agent_id: a.id, action: "tool.call" });
    expect(await engine.check({ agent_id: a.id, action: "tool.call" })).toEqual({ allowed: true, policy_id: "p" });
    expect(await engine.explain(a.id, "tool.call", { agent_id: a.id, operation: "tool.call" })).toEqual(before);
    expect(before.matched_rules.map((r) => r.rule_index)).toEqual([0, 1]);
  });

  it("engine - the fast path still marks audits and reports a higher-priority allow found after a lower one", async () => {
    const { engine, agents, seen } = await makeEngine();
    await engine.updatePolicy(rules("allow", [{ effect: "allow", action: "tool.call" }], { priority: 5 }));
    await engine.updatePolicy(rules("watch", [{ effect: "audit", action: "tool.call" }], { priority: 1 }));
    expect(await engine.check({ action: "tool.call" })).toEqual({ allowed: true, policy_id: "allow" });
    expect(seen.filter((e) => e.type === "policy.audited")).toHaveLength(1);
    const a = agent({ name: "own", policies: [rules("mine", [{ effect: "allow", action: "tool.call" }], { priority: 9 })] });
    agents.set(a.id, a);
    expect(await engine.check({ agent_id: a.id, action: "tool.call" })).toEqual({ allowed: true, policy_id: "mine" });
  });
});
