import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { agent, makeEngine, rules } from "../../test/helpers/policy.js";
import type { AgentId } from "../core/ids.js";
import { openSqlitePolicyStore } from "./sqlite-policy-store.js";

const ctx = (agent_id: AgentId, operation: string, extra = {}) => ({ agent_id, operation, ...extra });

describe("policy engine - administration", () => {
  it("update - a malformed rule is rejected with position and reason, and the old policy stays in force", async () => {
    const { engine, seen } = await makeEngine();
    await engine.updatePolicy(rules("p", [{ effect: "deny", action: "message.send" }]));
    const err = await engine
      .updatePolicy(
        rules("p", [
          { effect: "allow", action: "message.send", condition: "tier >= Tier2 &&\n  capabilites == 1" },
          { effect: "allow", action: "bad action" },
        ]),
      )
      .catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: "POLICY_INVALID",
      details: {
        policy_id: "p",
        problems: [
          { field: "rules[0].condition", line: 2, column: 3, reason: expect.stringContaining("unknown name 'capabilites'") },
          { field: "rules[1].action", line: 1, column: 4, reason: expect.stringContaining("invalid character ' '") },
        ],
      },
    });
    expect((err as Error).message).toContain("rules[0].condition at 2:3");
    expect(await engine.check({ action: "message.send" })).toMatchObject({ allowed: false, policy_id: "p" });
    expect(seen.filter((e) => e.type === "policy.updated")).toHaveLength(1);
  });

  it("update - a policy of the wrong shape is a validation error", async () => {
    const { engine } = await makeEngine();
    await expect(engine.updatePolicy({ id: "", name: "x" } as never)).rejects.toMatchObject({ code: "VALIDATION_FAILED" });
  });

  it("update - applies to the next decision and emits policy.updated; delete removes it", async () => {
    const { engine, seen } = await makeEngine();
    expect((await engine.check({ action: "tool.call" })).allowed).toBe(true);
    await engine.updatePolicy(rules("t", [{ effect: "deny", action: "tool.call" }]));
    expect((await engine.check({ action: "tool.call" })).allowed).toBe(false);
    expect(await engine.getPolicy("t")).toMatchObject({ id: "t", description: "" });
    await engine.deletePolicy("t");
    expect((await engine.check({ action: "tool.call" })).allowed).toBe(true);
    expect(seen.map((e) => e.type).filter((t) => t.startsWith("policy."))).toEqual(["policy.updated", "policy.deleted"]);
    await expect(engine.deletePolicy("t")).rejects.toMatchObject({ code: "POLICY_NOT_FOUND" });
    await expect(engine.getPolicy("t")).rejects.toMatchObject({ code: "POLICY_NOT_FOUND" });
    await expect(engine.evaluatePolicy("t", ctx("a" as AgentId, "tool.call"))).rejects.toMatchObject({ code: "POLICY_NOT_FOUND" });
  });

  it("hot update - concurrent decisions see the old set or the new set, never a mix", async () => {
    const { engine } = await makeEngine();
    // Each version's rules carry its number; a decision mixing versions would report two numbers.
    const version = (n: number) =>
      rules("p", [
        { effect: n % 2 ? "allow" : "deny", action: "message.send", description: `v${n}` },
        { effect: "audit", action: "message.*", description: `v${n}` },
        { effect: "allow", action: "*", description: `v${n}` },
      ]);
    await engine.updatePolicy(version(0));
    const seenVersions = new Set<string>();
    let writing = true;
    const reader = async () => {
      while (writing) {
        const d = await engine.explain("a" as AgentId, "message.send", ctx("a" as AgentId, "message.send"));
        const versions = new Set(d.matched_rules.map((r) => r.description));
        expect(versions.size).toBe(1);
        seenVersions.add([...versions][0] as string);
        await new Promise((r) => setImmediate(r));
      }
    };
    const writer = async () => {
      for (let n = 1; n <= 30; n++) {
        await engine.updatePolicy(version(n));
        await new Promise((r) => setImmediate(r));
      }
      writing = false;
    };
    await Promise.all([reader(), reader(), reader(), writer()]);
    expect(seenVersions.size).toBeGreaterThan(5);
  });

  it("persistence - policies survive a restart through the SQLite store", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "symbiont-policy-")), "policies.db");
    const first = await makeEngine({}, await openSqlitePolicyStore(file));
    await first.engine.updatePolicy(rules("keep", [{ effect: "deny", action: "tool.call" }], { priority: 7 }));
    await first.engine.updatePolicy(rules("gone", [{ effect: "deny", action: "message.send" }]));
    await first.engine.deletePolicy("gone");
    await first.engine.close();
    await first.engine.close();
    await expect(first.engine.updatePolicy(rules("late", []))).rejects.toMatchObject({ code: "POLICY_STORE_UNAVAILABLE" });
    const second = await makeEngine({}, await openSqlitePolicyStore(file));
    try {
      expect((await second.engine.listPolicies()).map((p) => p.id)).toEqual(["keep"]);
      expect((await second.engine.check({ action: "tool.call" })).allowed).toBe(false);
      expect((await second.engine.check({ action: "message.send" })).allowed).toBe(true);
    } finally {
      await second.engine.close();
    }
  });

  it("persistence - a write that fails leaves the installed set unchanged", async () => {
    const { engine, store } = await makeEngine();
    store.put = async () => {
      throw new Error("disk full");
    };
    await expect(engine.updatePolicy(rules("t", [{ effect: "deny", action: "tool.call" }]))).rejects.toThrow("disk full");
    expect((await engine.check({ action: "tool.call" })).allowed).toBe(true);
    expect(await engine.listPolicies()).toEqual([]);
  });
});

describe("policy engine - spec methods", () => {
  it("evaluatePolicy - reports the decision with every matching rule and reason", async () => {
    const { engine, agents } = await makeEngine();
    const a = agent({ name: "w", security_tier: "Tier1", metadata: { env: "prod" } });
    agents.set(a.id, a);
    await engine.updatePolicy(
      rules("p", [
        { effect: "allow", action: "message.send", description: "messaging is fine" },
        { effect: "audit", action: "message.*", condition: 'metadata.env == "prod"' },
        { effect: "deny", action: "message.send", condition: "tier < Tier1" },
        { effect: "deny", action: "tool.call" },
      ]),
    );
    const d = await engine.evaluatePolicy("p", ctx(a.id, "message.send"));
    expect(d).toMatchObject({ decision: "allow", allowed: true, policy_id: "p", audit: true });
    expect(d.matched_rules.map((r) => r.rule_index)).toEqual([0, 1]);
    expect(d.reasons[0]).toContain("messaging is fine");
    // The context's security tier and metadata override the agent's.
    const lowered = await engine.evaluatePolicy("p", ctx(a.id, "message.send", { security_context: { tier: "Tier0" }, metadata: { env: "dev" } }));
    expect(lowered).toMatchObject({ decision: "deny", allowed: false, audit: false });
    expect(lowered.matched_rules.map((r) => r.rule_index)).toEqual([0, 2]);
    const none = await engine.evaluatePolicy("p", ctx(a.id, "sandbox.network"));
    expect(none).toMatchObject({ decision: "not_applicable", allowed: false, matched_rules: [] });
    expect(none.reasons[0]).toContain("network");
  });

  it("evaluatePolicy - a disabled policy can still be evaluated on its own", async () => {
    const { engine } = await makeEngine();
    await engine.updatePolicy(rules("off", [{ effect: "deny", action: "tool.call" }], { enabled: false }));
    expect(await engine.evaluatePolicy("off", ctx("a" as AgentId, "tool.call"))).toMatchObject({ decision: "deny" });
  });

  it("checkOperationAllowed - uses the context's resource requirements", async () => {
    const { engine } = await makeEngine();
    await engine.updatePolicy(rules("mem", [{ effect: "deny", action: "resource.allocate", condition: "resources.memory_mb > 1024" }]));
    const limits = { memory_mb: 2048, cpu_cores: 1, disk_io_mbps: 1, network_io_mbps: 1, execution_timeout: 1, idle_timeout: 0 };
    expect(await engine.checkOperationAllowed("a" as AgentId, "resource.allocate", ctx("a" as AgentId, "resource.allocate", { resource_requirements: limits }))).toBe(false);
    expect(await engine.checkOperationAllowed("a" as AgentId, "resource.allocate", ctx("a" as AgentId, "resource.allocate", { resource_requirements: { ...limits, memory_mb: 512 } }))).toBe(true);
  });

  it("getAgentPolicies - runtime-wide enabled policies plus the agent's own, highest priority first", async () => {
    const { engine, agents } = await makeEngine();
    await engine.updatePolicy(rules("g1", [], { priority: 5 }));
    await engine.updatePolicy(rules("g0", [], { priority: 0, enabled: false }));
    const a = agent({ policies: [rules("own", [], { priority: 9 })] });
    agents.set(a.id, a);
    expect((await engine.getAgentPolicies(a.id)).map((p) => p.id)).toEqual(["own", "g1"]);
  });

  it("validateAgentConfig - returns every violation, not just the first", async () => {
    const { engine } = await makeEngine({ max_limits: { memory_mb: 1024, cpu_cores: 2 }, required_metadata: ["owner", "cost_center"], metadata_patterns: { env: "^(dev|prod)$" } });
    await engine.updatePolicy(rules("no-db", [{ effect: "deny", action: "capability.use:Custom(*)", description: "no custom capabilities" }]));
    const config = agent({
      security_tier: "Tier0",
      capabilities: ["Network", "FileSystem", { Custom: "gpu" }],
      resource_limits: { memory_mb: 4096, cpu_cores: 4, disk_io_mbps: 1, network_io_mbps: 1, execution_timeout: 1000, idle_timeout: 0 },
      metadata: { env: "staging" },
      policies: [rules("broken", [{ effect: "deny", action: "x", condition: "tier >" }])],
    });
    const result = await engine.validateAgentConfig(config);
    expect(result.valid).toBe(false);
    expect(result.violations.map((v) => [v.kind, v.field])).toEqual([
      ["policy_invalid", "policies[0]"],
      ["capability", "capabilities[0]"],
      ["capability", "capabilities[2]"],
      ["limit", "resource_limits.memory_mb"],
      ["limit", "resource_limits.cpu_cores"],
      ["metadata", "metadata.owner"],
      ["metadata", "metadata.cost_center"],
      ["metadata", "metadata.env"],
    ]);
    expect(result.violations[1]?.message).toContain("Tier2");
    expect(result.violations[2]).toMatchObject({ policy_id: "no-db" });
  });

  it("validateAgentConfig - Network below the minimum tier passes when a policy allows it; a good config is valid", async () => {
    const { engine } = await makeEngine();
    const netAgent = agent({ name: "fetcher", security_tier: "Tier1", capabilities: ["Network"] });
    expect((await engine.validateAgentConfig(netAgent)).valid).toBe(false);
    await engine.updatePolicy(rules("fetcher-net", [{ effect: "allow", action: "capability.use:Network", condition: 'agent.name == "fetcher"' }]));
    expect(await engine.validateAgentConfig(netAgent)).toEqual({ valid: true, violations: [] });
    expect((await engine.validateAgentConfig(agent({ name: "other", security_tier: "Tier1", capabilities: ["Network"] }))).valid).toBe(false);
    expect((await engine.validateAgentConfig(agent({ security_tier: "Tier2", capabilities: ["Network"] }))).valid).toBe(true);
  });

  it("validateAgentConfig - a deny on agent.create is a violation", async () => {
    const { engine } = await makeEngine();
    await engine.updatePolicy(rules("no-prod", [{ effect: "deny", action: "agent.create", condition: 'metadata.env == "prod" && tier < Tier3' }]));
    const result = await engine.validateAgentConfig(agent({ metadata: { env: "prod" } }));
    expect(result.violations).toEqual([expect.objectContaining({ kind: "denied", policy_id: "no-prod" })]);
  });
});
