import { describe, expect, it } from "vitest";
import { agentConfig } from "../../test/helpers/runtime.js";
import { makeEngine, rules } from "../../test/helpers/policy.js";
import { resolveConfig } from "../core/config/index.js";
import { PolicyError } from "../core/errors.js";
import { silentLogger } from "../core/logger.js";
import { DefaultLifecycleController } from "./controller.js";

async function setup(policy = {}) {
  const h = await makeEngine(policy);
  const controller = new DefaultLifecycleController({
    config: resolveConfig({ lifecycle: { enable_auto_recovery: false } }).lifecycle,
    clock: h.clock,
    events: h.events,
    logger: silentLogger(),
    authorizer: h.engine,
    configValidator: h.engine,
  });
  return { ...h, controller };
}

describe("lifecycle - policy enforcement", () => {
  it("lifecycle policy - a denied agent.create creates nothing and emits policy.denied", async () => {
    const { engine, controller, seen } = await setup();
    await engine.updatePolicy(rules("no-prod", [{ effect: "deny", action: "agent.create", condition: 'metadata.env == "prod"' }]));
    const err = await controller.createAgent(agentConfig({ metadata: { env: "prod" } })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PolicyError);
    expect(err).toMatchObject({ code: "POLICY_DENIED", details: { action: "agent.create", policy_id: "no-prod" } });
    expect(await controller.listAgents()).toEqual([]);
    expect(seen.some((e) => e.type === "agent.created")).toBe(false);
    expect(seen.filter((e) => e.type === "policy.denied")).toEqual([expect.objectContaining({ action: "agent.create", policy_id: "no-prod" })]);
    expect((await controller.getSystemStatus()).total_created).toBe(0);
    await expect(controller.createAgent(agentConfig({ metadata: { env: "dev" } }))).resolves.toMatchObject({ state: "Created" });
  });

  it("lifecycle policy - a config with violations is refused listing every one", async () => {
    const { controller } = await setup({ max_limits: { memory_mb: 256 }, required_metadata: ["owner"] });
    const err = await controller.createAgent(agentConfig({ security_tier: "Tier0", capabilities: ["Network"] })).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "POLICY_DENIED" });
    const violations = (err as PolicyError).details?.violations as { field: string }[];
    expect(violations.map((v) => v.field)).toEqual(["capabilities[0]", "resource_limits.memory_mb", "metadata.owner"]);
    expect(await controller.listAgents()).toEqual([]);
  });

  it("lifecycle policy - a denied agent.update leaves the old config in place", async () => {
    const { engine, controller, seen } = await setup();
    const created = await controller.createAgent(agentConfig({ name: "w", security_tier: "Tier2" }));
    await engine.updatePolicy(rules("frozen", [{ effect: "deny", action: "agent.update", condition: 'agent.name == "renamed"' }]));
    await expect(controller.updateAgentConfig(created.id, { ...created.config, name: "renamed" })).rejects.toMatchObject({ code: "POLICY_DENIED", details: { policy_id: "frozen" } });
    expect((await controller.getAgent(created.id)).config.name).toBe("w");
    // Lowering the tier is a downgrade: closed unless a policy allows it.
    await expect(controller.updateAgentConfig(created.id, { ...created.config, security_tier: "Tier0" })).rejects.toMatchObject({ code: "POLICY_DENIED", details: { policy_id: "default-deny" } });
    expect((await controller.getAgent(created.id)).config.security_tier).toBe("Tier2");
    expect(seen.some((e) => e.type === "agent.updated")).toBe(false);
    await controller.updateAgentConfig(created.id, { ...created.config, name: "w2", security_tier: "Tier3" });
    expect((await controller.getAgent(created.id)).config).toMatchObject({ name: "w2", security_tier: "Tier3" });
    await controller.shutdown();
  });
});
