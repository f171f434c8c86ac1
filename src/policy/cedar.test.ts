import { describe, expect, it } from "vitest";
import { agent, cedarPolicy, makeEngine, rules } from "../../test/helpers/policy.js";
import type { AgentConfig } from "../core/types.js";
import type { AuthorizationRequest } from "../core/authorizer.js";

const tiers = ["Tier0", "Tier1", "Tier2", "Tier3"] as const;

function agents(): AgentConfig[] {
  const out: AgentConfig[] = [];
  for (const tier of tiers) {
    for (const caps of [[], ["Network"], ["Database", "FileSystem"]] as const) {
      for (const team of ["ops", "web"]) {
        out.push(agent({ name: `a-${tier}-${caps.length}-${team}`, security_tier: tier, capabilities: [...caps], metadata: { team }, resource_limits: { memory_mb: tier === "Tier2" || tier === "Tier3" ? 4096 : 512, cpu_cores: 1, disk_io_mbps: 1, network_io_mbps: 1, execution_timeout: 1000, idle_timeout: 0 } }));
      }
    }
  }
  return out;
}

/** The same intents, written once as built-in rules and once in Cedar. */
const INTENTS: { name: string; builtin: Parameters<typeof rules>[1]; cedar: string; actions: string[]; resources?: string[] }[] = [
  {
    name: "network only from Tier2 up",
    builtin: [{ effect: "allow", action: "sandbox.network", condition: "tier >= Tier2" }],
    cedar: `permit(principal, action == Symbiont::Action::"sandbox.network", resource) when { context.tier >= 2 };`,
    actions: ["sandbox.network", "message.send"],
  },
  {
    name: "ops team may not send to billing topics",
    builtin: [{ effect: "deny", action: "message.send:billing.*", condition: 'metadata.team == "ops"' }],
    cedar: `forbid(principal, action == Symbiont::Action::"message.send", resource) when { context.resource like "billing.*" && principal.hasTag("team") && principal.getTag("team") == "ops" };`,
    actions: ["message.send"],
    resources: ["billing.invoices", "alerts.cpu"],
  },
  {
    name: "Database capability required for exec, big memory denied below Tier3",
    builtin: [
      { effect: "deny", action: "sandbox.exec", condition: '!("Database" in capabilities)' },
      { effect: "deny", action: "resource.allocate", condition: "resources.memory_mb > 1024 && tier < Tier3" },
    ],
    cedar: `forbid(principal, action == Symbiont::Action::"sandbox.exec", resource) unless { context.capabilities.contains("Database") };
forbid(principal, action == Symbiont::Action::"resource.allocate", resource) when { context has resources && context.resources.memory_mb > 1024 && context.tier < 3 };`,
    actions: ["sandbox.exec", "resource.allocate"],
  },
  {
    name: "office hours for scheduling",
    builtin: [{ effect: "deny", action: "task.schedule", condition: "time.hour < 9 || time.hour >= 17" }],
    cedar: `forbid(principal, action == Symbiont::Action::"task.schedule", resource) when { context.hour < 9 || context.hour >= 17 };`,
    actions: ["task.schedule"],
  },
];

describe("cedar policies", () => {
  it.each(INTENTS.map((i) => [i.name, i] as const))("parity - %s: Cedar and built-in decide alike", async (_, intent) => {
    const builtin = await makeEngine();
    const cedar = await makeEngine();
    await builtin.engine.updatePolicy(rules("p", intent.builtin));
    await cedar.engine.updatePolicy(cedarPolicy("p", intent.cedar));
    let compared = 0;
    const outcomes = new Set<boolean>();
    // 12:00 then 20:00 UTC (the clocks only move forward).
    for (const hour of [12, 20]) {
      if (hour === 20) await Promise.all([builtin.clock.advance(8 * 3_600_000), cedar.clock.advance(8 * 3_600_000)]);
      for (const a of agents()) {
        builtin.agents.set(a.id, a);
        cedar.agents.set(a.id, a);
        for (const action of intent.actions) {
          for (const resource of intent.resources ?? [undefined]) {
            const req: AuthorizationRequest = { agent_id: a.id, action, ...(resource ? { resource } : {}) };
            const [x, y] = await Promise.all([builtin.engine.check(req), cedar.engine.check(req)]);
            expect({ req, hour, allowed: y.allowed }).toEqual({ req, hour, allowed: x.allowed });
            outcomes.add(x.allowed);
            compared++;
          }
        }
      }
    }
    expect(compared).toBeGreaterThan(20);
    expect(outcomes).toEqual(new Set([true, false]));
  });

  it("cedar - a forbid reports the policy id and statement; a permit opens a security-sensitive action", async () => {
    const { engine } = await makeEngine();
    await engine.updatePolicy(cedarPolicy("c", `permit(principal, action == Symbiont::Action::"sandbox.mount", resource);\nforbid(principal, action == Symbiont::Action::"tool.call", resource == Symbiont::Resource::"rm");`, { priority: 3 }));
    expect(await engine.check({ action: "sandbox.mount", resource: "/data" })).toEqual({ allowed: true, policy_id: "c" });
    const d = await engine.check({ action: "tool.call", resource: "rm" });
    expect(d).toMatchObject({ allowed: false, policy_id: "c", reason: expect.stringContaining("statement 1") });
    expect((await engine.check({ action: "tool.call", resource: "ls" })).allowed).toBe(true);
  });

  it("cedar - Cedar and built-in policies combine with deny overriding allow", async () => {
    const { engine } = await makeEngine();
    await engine.updatePolicy(cedarPolicy("c", `permit(principal, action, resource);`, { priority: 100 }));
    await engine.updatePolicy(rules("r", [{ effect: "deny", action: "message.send" }]));
    expect(await engine.check({ action: "message.send" })).toMatchObject({ allowed: false, policy_id: "r" });
    await engine.updatePolicy(rules("r", [{ effect: "allow", action: "message.send" }]));
    await engine.updatePolicy(cedarPolicy("c", `forbid(principal, action, resource) when { context.resource == "x" };`));
    expect(await engine.check({ action: "message.send", resource: "x" })).toMatchObject({ allowed: false, policy_id: "c" });
    const d = await engine.evaluatePolicy("c", { agent_id: "a" as never, operation: "message.send", resource: "x" });
    expect(d).toMatchObject({ decision: "deny", matched_rules: [{ policy_id: "c", rule_index: 0, effect: "forbid", action: "*" }] });
  });

  it.each([
    ["syntax", `permit(principal, action, resource) when { context.tier >= };`, 1, 60, "unexpected token"],
    ["unknown attribute", `permit(principal, action, resource);\npermit(principal, action == Symbiont::Action::"message.send", resource)\n  when { context.tierr >= 2 };`, 3, 10, "tierr"],
    ["unknown action", `forbid(principal, action == Symbiont::Action::"nope.never", resource);`, 1, 29, "nope.never"],
  ])("cedar - a %s error is rejected with Cedar's message and position; the old policy stays", async (_, text, line, column, message) => {
    const { engine } = await makeEngine();
    await engine.updatePolicy(cedarPolicy("c", `forbid(principal, action == Symbiont::Action::"tool.call", resource);`));
    const err = await engine.updatePolicy(cedarPolicy("c", text)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "POLICY_INVALID", details: { policy_id: "c", problems: [expect.objectContaining({ field: "cedar", reason: expect.stringContaining(message) })] } });
    const problem = (err as { details: { problems: { line?: number; column?: number }[] } }).details.problems[0];
    expect([problem?.line, problem?.column]).toEqual([line, column]);
    expect((await engine.check({ action: "tool.call" })).allowed).toBe(false);
  });

  it("cedar - extra actions from config can be named", async () => {
    const { engine } = await makeEngine({ extra_actions: ["workflow.run"] });
    await engine.updatePolicy(cedarPolicy("w", `forbid(principal, action == Symbiont::Action::"workflow.run", resource);`));
    expect((await engine.check({ action: "workflow.run" })).allowed).toBe(false);
  });

  it("cedar - templates and empty texts are refused", async () => {
    const { engine } = await makeEngine();
    await expect(engine.updatePolicy(cedarPolicy("t", `permit(principal == ?principal, action, resource);`))).rejects.toMatchObject({ code: "POLICY_INVALID" });
    await expect(engine.updatePolicy(cedarPolicy("t", `// nothing`))).rejects.toMatchObject({ code: "POLICY_INVALID" });
    await expect(engine.updatePolicy({ ...cedarPolicy("t", `permit(principal, action, resource);`), rules: [{ effect: "allow", action: "x" }] })).rejects.toMatchObject({ code: "POLICY_INVALID" });
  });
});
