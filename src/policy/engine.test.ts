import { describe, expect, it } from "vitest";
import { agent, makeEngine, rules } from "../../test/helpers/policy.js";
import { authorize } from "../core/authorizer.js";
import { PolicyError } from "../core/errors.js";
import type { AgentId } from "../core/ids.js";

const A = (tier = "Tier1") => agent({ name: "worker", security_tier: tier as "Tier1", capabilities: ["FileSystem"], metadata: { team: "ops" } });

describe("policy engine - decisions", () => {
  it("engine - deny overrides allow whatever the priorities", async () => {
    const { engine } = await makeEngine();
    await engine.updatePolicy(rules("allow-high", [{ effect: "allow", action: "message.send" }], { priority: 100 }));
    await engine.updatePolicy(rules("deny-low", [{ effect: "deny", action: "message.send" }], { priority: 1 }));
    const d = await engine.check({ action: "message.send", resource: "topic" });
    expect(d).toMatchObject({ allowed: false, policy_id: "deny-low" });
    expect(d.reason).toContain("deny-low");
  });

  it("engine - the highest-priority denial is the one reported", async () => {
    const { engine } = await makeEngine();
    await engine.updatePolicy(rules("p1", [{ effect: "deny", action: "message.send" }], { priority: 1 }));
    await engine.updatePolicy(rules("p50", [{ effect: "deny", action: "message.*" }], { priority: 50 }));
    await engine.updatePolicy(rules("p10", [{ effect: "deny", action: "*" }], { priority: 10 }));
    expect(await engine.check({ action: "message.send" })).toMatchObject({ allowed: false, policy_id: "p50" });
    const all = await engine.explain("a" as AgentId, "message.send", { agent_id: "a" as AgentId, operation: "message.send" });
    expect(all.matched_rules.map((r) => r.policy_id)).toEqual(["p50", "p10", "p1"]);
    expect(all.reasons).toHaveLength(3);
  });

  it("engine - the highest-priority allow is the one reported", async () => {
    const { engine } = await makeEngine({ default_effect: "deny" });
    await engine.updatePolicy(rules("low", [{ effect: "allow", action: "tool.call" }], { priority: 1 }));
    await engine.updatePolicy(rules("high", [{ effect: "allow", action: "tool.*" }], { priority: 9 }));
    expect(await engine.check({ action: "tool.call" })).toEqual({ allowed: true, policy_id: "high" });
  });

  it("engine - disabled policies take no part", async () => {
    const { engine } = await makeEngine();
    await engine.updatePolicy(rules("off", [{ effect: "deny", action: "message.send" }], { enabled: false }));
    expect((await engine.check({ action: "message.send" })).allowed).toBe(true);
    await engine.updatePolicy(rules("off", [{ effect: "deny", action: "message.send" }], { enabled: true }));
    expect((await engine.check({ action: "message.send" })).allowed).toBe(false);
  });

  it("engine - require is a precondition: unmet denies, met does not by itself allow", async () => {
    const { engine, agents } = await makeEngine();
    const low = A("Tier1");
    const high = A("Tier3");
    agents.set(low.id, low);
    agents.set(high.id, high);
    await engine.updatePolicy(rules("net", [{ effect: "require", action: "sandbox.network", condition: "tier >= Tier2", description: "network needs Tier2+" }]));
    const denied = await engine.check({ agent_id: low.id, action: "sandbox.network" });
    expect(denied).toMatchObject({ allowed: false, policy_id: "net" });
    expect(denied.reason).toContain("requirement not met");
    expect(denied.reason).toContain("network needs Tier2+");
    // Met, but network is security-sensitive and nothing allows it.
    expect(await engine.check({ agent_id: high.id, action: "sandbox.network" })).toMatchObject({ allowed: false, policy_id: "default-deny" });
    await engine.updatePolicy(rules("net-ok", [{ effect: "allow", action: "sandbox.network" }]));
    expect((await engine.check({ agent_id: high.id, action: "sandbox.network" })).allowed).toBe(true);
    expect((await engine.check({ agent_id: low.id, action: "sandbox.network" })).allowed).toBe(false);
  });

  it("engine - audit allows and emits policy.audited", async () => {
    const { engine, seen } = await makeEngine({ default_effect: "deny" });
    await engine.updatePolicy(rules("watch", [{ effect: "audit", action: "tool.call:shell*" }]));
    expect(await engine.check({ agent_id: "x" as AgentId, action: "tool.call", resource: "shell.run" })).toEqual({ allowed: true, policy_id: "watch" });
    expect(seen.filter((e) => e.type === "policy.audited")).toEqual([
      expect.objectContaining({ type: "policy.audited", agent_id: "x", action: "tool.call", resource: "shell.run", policy_id: "watch" }),
    ]);
    expect((await engine.check({ action: "tool.call", resource: "browser" })).allowed).toBe(false);
    expect(seen.filter((e) => e.type === "policy.audited")).toHaveLength(1);
  });

  it("engine - resource patterns restrict rules to matching resources", async () => {
    const { engine } = await makeEngine();
    await engine.updatePolicy(rules("data", [{ effect: "deny", action: "file.download:/workspace/secret/**" }]));
    expect((await engine.check({ action: "file.download", resource: "/workspace/secret/a/b" })).allowed).toBe(false);
    expect((await engine.check({ action: "file.download", resource: "/workspace/public/a" })).allowed).toBe(true);
  });

  it("engine - conditions see the agent's tier, capabilities, metadata and limits from the directory", async () => {
    const { engine, agents } = await makeEngine();
    const a = agent({ name: "big", security_tier: "Tier2", capabilities: ["Database"], metadata: { team: "data" }, resource_limits: { memory_mb: 4096, cpu_cores: 2, disk_io_mbps: 1, network_io_mbps: 1, execution_timeout: 1000, idle_timeout: 0 } });
    agents.set(a.id, a);
    await engine.updatePolicy(
      rules("conds", [
        { effect: "deny", action: "resource.allocate", condition: "resources.memory_mb > 2048 && metadata.team != \"data\"" },
        { effect: "deny", action: "message.send", condition: '!("Database" in capabilities)' },
        { effect: "deny", action: "tool.call", condition: "tier < Tier2" },
      ]),
    );
    expect((await engine.check({ agent_id: a.id, action: "resource.allocate" })).allowed).toBe(true);
    expect((await engine.check({ agent_id: a.id, action: "message.send" })).allowed).toBe(true);
    expect((await engine.check({ agent_id: a.id, action: "tool.call" })).allowed).toBe(true);
    const b = agent({ name: "small", security_tier: "Tier0", metadata: { team: "web" }, resource_limits: { ...a.resource_limits, memory_mb: 4096 } });
    agents.set(b.id, b);
    expect((await engine.check({ agent_id: b.id, action: "resource.allocate" })).allowed).toBe(false);
    expect((await engine.check({ agent_id: b.id, action: "message.send" })).allowed).toBe(false);
    expect((await engine.check({ agent_id: b.id, action: "tool.call" })).allowed).toBe(false);
    // Requested limits in the request context take precedence over the configured ones.
    expect((await engine.check({ agent_id: b.id, action: "resource.allocate", context: { resource_limits: { memory_mb: 256 } } })).allowed).toBe(true);
  });

  it("engine - time conditions follow the clock", async () => {
    const { engine, clock } = await makeEngine();
    await engine.updatePolicy(rules("hours", [{ effect: "deny", action: "task.schedule", condition: "time.hour < 9 || time.hour >= 17" }]));
    expect((await engine.check({ action: "task.schedule" })).allowed).toBe(true); // 12:00
    await clock.advance(6 * 3_600_000);
    expect((await engine.check({ action: "task.schedule" })).allowed).toBe(false); // 18:00
  });

  it("engine - an agent's own policies apply to that agent only", async () => {
    const { engine, agents } = await makeEngine();
    const strict = agent({ name: "strict", policies: [rules("own", [{ effect: "deny", action: "message.send" }])] });
    const other = agent({ name: "other" });
    agents.set(strict.id, strict);
    agents.set(other.id, other);
    expect(await engine.check({ agent_id: strict.id, action: "message.send" })).toMatchObject({ allowed: false, policy_id: "own" });
    expect((await engine.check({ agent_id: other.id, action: "message.send" })).allowed).toBe(true);
    expect((await engine.getAgentPolicies(strict.id)).map((p) => p.id)).toEqual(["own"]);
  });

  it("engine - default_effect deny closes everything no policy allows", async () => {
    const { engine } = await makeEngine({ default_effect: "deny" });
    expect(await engine.check({ action: "message.send" })).toMatchObject({ allowed: false, policy_id: "default" });
  });
});

describe("policy engine - default deny for security-sensitive operations", () => {
  it.each([
    [{ action: "sandbox.network" }, "network"],
    [{ action: "sandbox.mount", resource: "/etc" }, "mounts"],
    [{ action: "sandbox.create", context: { network_config: { enabled: true } } }, "network"],
    [{ action: "sandbox.create", context: { filesystem_config: { mounts: [{ host_path: "/", sandbox_path: "/h", read_only: true }] } } }, "mounts"],
    [{ action: "sandbox.create", context: { sandbox_config: { network_config: { enabled: true }, filesystem_config: { mounts: [] } } } }, "network"],
    [{ action: "sandbox.create", context: { config: { security_tier: "Tier1", network_config: { enabled: false }, filesystem_config: { mounts: [{ host_path: "/x" }] } } } }, "mounts"],
    [{ action: "file.download", resource: "/etc/shadow" }, "outside the workspace"],
    [{ action: "file.upload", resource: "/workspace/../etc/passwd" }, "outside the workspace"],
    [{ action: "file.upload", resource: "sbx-1:/root/x" }, "outside the workspace"],
    [{ action: "file.read" }, "without a path"],
  ])("default deny - %j", async (request, reason) => {
    const { engine } = await makeEngine();
    const d = await engine.check(request);
    expect(d).toMatchObject({ allowed: false, policy_id: "default-deny" });
    expect(d.reason).toContain(reason);
  });

  it.each([
    { action: "sandbox.create", context: { network_config: { enabled: false }, filesystem_config: { mounts: [] } } },
    { action: "file.upload", resource: "/workspace/in/data.csv" },
    { action: "file.download", resource: "out/report.txt" },
    { action: "message.send", resource: "topic" },
  ])("default allow - %j", async (request) => {
    const { engine } = await makeEngine();
    expect(await engine.check(request)).toEqual({ allowed: true, policy_id: "default" });
  });

  it("default deny - a tier downgrade on agent.update or sandbox.create", async () => {
    const { engine } = await makeEngine();
    const t1 = A("Tier1");
    expect(await engine.check({ agent_id: t1.id, action: "agent.update", context: { config: t1, previous_tier: "Tier3" } })).toMatchObject({ allowed: false, policy_id: "default-deny" });
    expect((await engine.check({ agent_id: t1.id, action: "agent.update", context: { config: t1, previous_tier: "Tier0" } })).allowed).toBe(true);
    expect((await engine.check({ agent_id: t1.id, action: "sandbox.create", context: { config: t1, tier: "Tier0" } })).allowed).toBe(false);
    expect((await engine.check({ agent_id: t1.id, action: "sandbox.create", context: { config: t1, tier: "Tier2" } })).allowed).toBe(true);
  });

  it("default deny - an explicit allow (or a configured workspace) opens it", async () => {
    const { engine } = await makeEngine({ workspace_root: "/srv/work" });
    expect((await engine.check({ action: "file.download", resource: "/srv/work/a" })).allowed).toBe(true);
    expect((await engine.check({ action: "file.download", resource: "/workspace/a" })).allowed).toBe(false);
    await engine.updatePolicy(rules("etc", [{ effect: "allow", action: "file.download:/etc/*" }]));
    expect((await engine.check({ action: "file.download", resource: "/etc/hosts" })).allowed).toBe(true);
  });
});

describe("policy engine - every enforcement point's action", () => {
  const actions = [
    "agent.create", "agent.update", "message.send", "message.subscribe", "sandbox.create", "sandbox.exec",
    "sandbox.network", "sandbox.mount", "file.upload", "file.download", "resource.allocate", "resource.update",
    "tool.call", "api.request",
  ];

  it.each(actions)("enforcement action %s - a matching deny denies with policy id and reason, others stay allowed", async (action) => {
    const { engine, events, seen } = await makeEngine();
    await engine.updatePolicy(rules("block", [{ effect: "deny", action, description: `no ${action}` }]));
    await engine.updatePolicy(rules("open", [{ effect: "allow", action: "*" }]));
    const err = await authorize(engine, events, { agent_id: "a" as AgentId, action, resource: "/workspace/x" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PolicyError);
    expect(err).toMatchObject({ code: "POLICY_DENIED", details: { policy_id: "block", action, reason: expect.stringContaining(`no ${action}`) } });
    expect(seen.filter((e) => e.type === "policy.denied")).toEqual([expect.objectContaining({ action, policy_id: "block" })]);
    const other = actions.find((a) => a !== action) as string;
    await expect(authorize(engine, events, { action: other, resource: "/workspace/x" })).resolves.toBeUndefined();
  });
});
