import * as cedar from "@cedar-policy/cedar-wasm/nodejs";
import { describe, expect, it } from "vitest";
import { agent, cedarPolicy, makeEngine } from "../../test/helpers/policy.js";
import { cedarUses, unionUses } from "./cedar-projection.js";

function uses(text: string) {
  const json = cedar.policyToJson(text);
  if (json.type === "failure") throw new Error(json.errors.map((e) => e.message).join("; "));
  const u = cedarUses(json.json);
  return { context: [...u.context].sort(), principal: [...u.principal].sort(), tags: u.tags, opaque: u.opaque, resource: u.resource };
}

const A = `action == Symbiont::Action::"message.send"`;

describe("cedar projection", () => {
  it("projection - finds the context fields, principal attributes and tags a statement reads", () => {
    expect(uses(`permit(principal, ${A}, resource) when { context.tier >= 2 && context has resources && context.resources.memory_mb > 1 && principal.name == "x" && principal.hasTag("team") };`)).toEqual({
      context: ["resources", "tier"],
      principal: ["name"],
      tags: true,
      opaque: false,
      resource: false,
    });
    expect(uses(`permit(principal, ${A}, resource) when { context has resources.memory_mb } unless { principal has tier };`)).toEqual({ context: ["resources"], principal: ["tier"], tags: false, opaque: false, resource: false });
  });

  it("projection - a statement that reads nothing of the request needs nothing; uid comparisons need no entity", () => {
    expect(uses(`forbid(principal == Symbiont::Agent::"a", ${A}, resource) when { principal in Symbiont::Agent::"b" };`)).toEqual({ context: [], principal: [], tags: false, opaque: false, resource: false });
  });

  it("projection - tells statements that read the resource from those that do not", () => {
    expect(uses(`forbid(principal, ${A}, resource == Symbiont::Resource::"r");`).resource).toBe(true);
    expect(uses(`forbid(principal, ${A}, resource) when { resource == Symbiont::Resource::"r" };`).resource).toBe(true);
    expect(uses(`forbid(principal, ${A}, resource) when { context.resource like "billing.*" };`).resource).toBe(true);
    expect(uses(`forbid(principal, ${A}, resource) when { context == {} };`).resource).toBe(true);
    expect(uses(`forbid(principal, ${A}, resource) when { context.tier < 2 && principal.hasTag("t") };`).resource).toBe(false);
  });

  it("projection - reads the analysis cannot bound make the statement opaque", () => {
    expect(uses(`permit(principal, ${A}, resource) when { context == {} };`).opaque).toBe(true);
    expect(uses(`permit(principal, ${A}, resource) when { (if context.tier > 1 then principal else principal).name == "x" };`).opaque).toBe(true);
    expect(uses(`permit(principal, ${A}, resource) when { Symbiont::Agent::"a".tier > 1 };`).opaque).toBe(true);
    expect(uses(`permit(principal, ${A}, resource) when { (if true then principal else principal).hasTag("t") };`).opaque).toBe(true);
  });

  it("projection - a group reads the union of its statements", () => {
    const j = (t: string) => cedarUses((cedar.policyToJson(t) as { json: unknown }).json);
    const u = unionUses([j(`permit(principal, ${A}, resource) when { context.tier > 1 };`), j(`permit(principal, ${A}, resource) when { principal.getTag("t") == "x" && context.hour > 1 };`)]);
    expect({ context: [...u.context].sort(), tags: u.tags, opaque: u.opaque }).toEqual({ context: ["hour", "tier"], tags: true, opaque: false });
  });
});

describe("cedar decisions with projection and remembered outcomes", () => {
  it("cedar - an opaque statement still sees the whole request", async () => {
    const { engine, agents } = await makeEngine();
    const low = agent({ name: "low", security_tier: "Tier1" });
    const high = agent({ name: "high", security_tier: "Tier3" });
    agents.set(low.id, low);
    agents.set(high.id, high);
    await engine.updatePolicy(cedarPolicy("c", `forbid(principal, ${A}, resource) when { (if context.hour >= 0 then context else context).tier < 2 };`));
    expect((await engine.check({ agent_id: low.id, action: "message.send" })).allowed).toBe(false);
    expect((await engine.check({ agent_id: high.id, action: "message.send" })).allowed).toBe(true);
  });

  it("cedar - statements that read the resource and statements that do not decide together", async () => {
    const { engine, agents } = await makeEngine({ default_effect: "deny" });
    const ops = agent({ name: "ops", metadata: { team: "ops" } });
    const web = agent({ name: "web", metadata: { team: "web" } });
    agents.set(ops.id, ops);
    agents.set(web.id, web);
    await engine.updatePolicy(cedarPolicy("pub", `permit(principal, ${A}, resource) when { context.resource like "pub.*" };`, { priority: 1 }));
    await engine.updatePolicy(cedarPolicy("no-ops", `forbid(principal, ${A}, resource) when { principal.hasTag("team") && principal.getTag("team") == "ops" };`, { priority: 2 }));
    for (const resource of ["pub.a", "pub.b", "priv.a"]) {
      expect(await engine.check({ agent_id: ops.id, action: "message.send", resource })).toMatchObject({ allowed: false, policy_id: "no-ops" });
    }
    expect(await engine.check({ agent_id: web.id, action: "message.send", resource: "pub.a" })).toEqual({ allowed: true, policy_id: "pub" });
    expect(await engine.check({ agent_id: web.id, action: "message.send", resource: "pub.b" })).toEqual({ allowed: true, policy_id: "pub" });
    expect(await engine.check({ agent_id: web.id, action: "message.send", resource: "priv.a" })).toMatchObject({ allowed: false, policy_id: "default" });
    const d = await engine.explain(ops.id, "message.send", { agent_id: ops.id, operation: "message.send", resource: "pub.a" });
    expect(d).toMatchObject({ decision: "deny", matched_rules: [{ policy_id: "no-ops", effect: "forbid" }] });
  });

  it("cedar - a remembered outcome never outlives the policy: update and delete apply to the next decision", async () => {
    const { engine, agents } = await makeEngine();
    const a = agent({ name: "w", security_tier: "Tier1", metadata: { team: "ops" } });
    agents.set(a.id, a);
    const req = { agent_id: a.id, action: "message.send", resource: "t" };
    await engine.updatePolicy(cedarPolicy("c", `forbid(principal, ${A}, resource) when { principal.hasTag("team") && principal.getTag("team") == "ops" };`));
    for (let i = 0; i < 3; i++) expect(await engine.check(req)).toMatchObject({ allowed: false, policy_id: "c" });
    await engine.updatePolicy(cedarPolicy("c", `forbid(principal, ${A}, resource) when { principal.hasTag("team") && principal.getTag("team") == "web" };`));
    expect((await engine.check(req)).allowed).toBe(true);
    await engine.updatePolicy(cedarPolicy("c", `forbid(principal, ${A}, resource) when { principal.hasTag("team") && principal.getTag("team") == "ops" };`));
    expect((await engine.check(req)).allowed).toBe(false);
    await engine.deletePolicy("c");
    expect((await engine.check(req)).allowed).toBe(true);
  });

  it("cedar - a remembered outcome follows the request: a changed agent, resource or hour is decided afresh", async () => {
    const { engine, agents, clock } = await makeEngine();
    const a = agent({ name: "w", security_tier: "Tier1", metadata: { team: "ops" } });
    agents.set(a.id, a);
    await engine.updatePolicy(cedarPolicy("c", `forbid(principal, ${A}, resource) when { principal.hasTag("team") && principal.getTag("team") == "ops" && context.resource like "billing.*" && context.hour < 13 };`));
    const req = { agent_id: a.id, action: "message.send", resource: "billing.x" };
    expect((await engine.check(req)).allowed).toBe(false);
    expect((await engine.check({ ...req, resource: "alerts.x" })).allowed).toBe(true);
    agents.set(a.id, { ...a, metadata: { team: "web" } });
    expect((await engine.check(req)).allowed).toBe(true);
    agents.set(a.id, a);
    expect((await engine.check(req)).allowed).toBe(false);
    await clock.advance(3_600_000); // 13:00 UTC
    expect((await engine.check(req)).allowed).toBe(true);
  });
});
