import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../../src/core/logger.js";
import { parseAgentConfig } from "../../src/core/schemas.js";
import { createRuntime } from "../../src/runtime.js";

describe("runtime - policy wiring", () => {
  it("runtime policy - policies persist in data_dir across restarts and govern agent creation", async () => {
    const data_dir = mkdtempSync(join(tmpdir(), "symbiont-rt-policy-"));
    const first = await createRuntime({ config: { data_dir }, logger: silentLogger() });
    expect(first.authorizer).toBe(first.policy);
    await first.policy.updatePolicy({ id: "no-x", name: "no x", description: "", priority: 1, enabled: true, rules: [{ effect: "deny", action: "agent.create", condition: 'agent.name == "x"' }] });
    await first.shutdown();

    const second = await createRuntime({ config: { data_dir }, logger: silentLogger() });
    try {
      await expect(second.lifecycle.createAgent(parseAgentConfig({ name: "x" }))).rejects.toMatchObject({ code: "POLICY_DENIED", details: { policy_id: "no-x" } });
      const y = await second.lifecycle.createAgent(parseAgentConfig({ name: "y", security_tier: "Tier2", capabilities: ["Network"] }));
      // The engine finds agents through the lifecycle controller.
      expect((await second.policy.getAgentPolicies(y.id)).map((p) => p.id)).toEqual(["no-x"]);
      expect((await second.authorizer.check({ agent_id: y.id, action: "sandbox.network" })).allowed).toBe(false);
    } finally {
      await second.shutdown();
    }
  });

  it("runtime policy - disabled policy falls back to the built-in default authorizer", async () => {
    const rt = await createRuntime({ config: { data_dir: mkdtempSync(join(tmpdir(), "symbiont-rt-policy-")), policy: { enabled: false, store: "memory" } }, logger: silentLogger() });
    try {
      expect(rt.authorizer).not.toBe(rt.policy);
      expect((await rt.authorizer.check({ action: "sandbox.network" })).allowed).toBe(false);
      expect((await rt.authorizer.check({ action: "message.send" })).allowed).toBe(true);
    } finally {
      await rt.shutdown();
    }
  });
});
