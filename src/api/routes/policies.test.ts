import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeApi, type TestApi } from "../../../test/helpers/api.js";

let api: TestApi;
let alice: string;
let bob: string;

async function create(name: string, metadata: Record<string, string> = {}): Promise<string> {
  const res = await api.call("POST", "/api/v1/agents", { name, metadata });
  expect(res.statusCode, res.body).toBe(200);
  return (res.json() as { id: string }).id;
}

const send = (from: string, to: string) => api.call("POST", `/api/v1/agents/${to}/messages`, { sender: from, payload: "hi" });

beforeAll(async () => {
  api = await makeApi();
  alice = await create("pol-alice", { team: "ops" });
  bob = await create("pol-bob");
});
afterAll(async () => {
  await api.close();
});

describe("api - policies", () => {
  it("a rule policy created over the API is enforced on message sends until it is deleted", async () => {
    expect((await send(alice, bob)).statusCode).toBe(200);
    const rule = { effect: "deny", action: "message.send", condition: `resource == "${bob}"`, description: "nobody writes to bob" };
    const created = await api.call("POST", "/api/v1/policies", { id: "no-bob", name: "No mail to bob", priority: 10, rules: [rule] });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json()).toEqual({ id: "no-bob", name: "No mail to bob", description: "", priority: 10, enabled: true, language: "rules", rules: [rule], cedar: null });

    const denied = await send(alice, bob);
    expect(denied.statusCode).toBe(403);
    expect(denied.json()).toMatchObject({ code: "POLICY_DENIED" });
    expect((await send(bob, alice)).statusCode).toBe(200);

    expect((await api.call("GET", "/api/v1/policies/no-bob")).json()).toEqual(created.json());
    const list = (await api.call("GET", "/api/v1/policies")).json() as { policies: { id: string }[]; enforced: boolean };
    expect(list.enforced).toBe(true);
    expect(list.policies.map((p) => p.id)).toEqual(["no-bob"]);

    const deleted = await api.call("DELETE", "/api/v1/policies/no-bob");
    expect(deleted.json()).toEqual({ id: "no-bob", status: "deleted" });
    expect((await send(alice, bob)).statusCode).toBe(200);
    expect((await api.call("GET", "/api/v1/policies/no-bob")).json()).toMatchObject({ code: "POLICY_NOT_FOUND" });
    await api.call("GET", `/api/v1/agents/${bob}/messages`);
    await api.call("GET", `/api/v1/agents/${alice}/messages`);
  });

  it("Cedar policies are created, enforced and evaluated like rule policies", async () => {
    const cedar = `forbid(principal, action == Symbiont::Action::"message.send", resource) when { principal.hasTag("team") && principal.getTag("team") == "ops" };`;
    const created = await api.call("POST", "/api/v1/policies", { id: "ops-quiet", name: "ops stay quiet", cedar });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json()).toMatchObject({ id: "ops-quiet", language: "cedar", rules: [], cedar });
    expect((await send(alice, bob)).json()).toMatchObject({ code: "POLICY_DENIED" });
    expect((await send(bob, alice)).statusCode).toBe(200);
    const decision = await api.call("POST", "/api/v1/policies/ops-quiet/evaluate", { context: { agent_id: alice, operation: "message.send", resource: bob } });
    expect(decision.statusCode).toBe(200);
    expect(decision.json()).toMatchObject({ decision: "deny", allowed: false, policy_id: "ops-quiet", audit: false, matched_rules: [{ policy_id: "ops-quiet", rule_index: 0, effect: "forbid" }] });
    await api.call("DELETE", "/api/v1/policies/ops-quiet");
    await api.call("GET", `/api/v1/agents/${alice}/messages`);
  });

  it("a malformed policy is 400 POLICY_INVALID with field, line and column; the old version stays in force", async () => {
    const good = { id: "guard", name: "guard", rules: [{ effect: "deny", action: "message.send", condition: `resource == "${bob}"` }] };
    expect((await api.call("POST", "/api/v1/policies", good)).statusCode).toBe(201);

    const badRule = await api.call("PUT", "/api/v1/policies/guard", { rules: [{ effect: "deny", action: "message.send", condition: "tier >= \n  Tier2 &&" }] });
    expect(badRule.statusCode).toBe(400);
    const body = badRule.json() as { code: string; error: string; details: { policy_id: string; problems: { field: string; line: number; column: number; reason: string }[] } };
    expect(body.code).toBe("POLICY_INVALID");
    expect(body.details.policy_id).toBe("guard");
    expect(body.details.problems[0]).toMatchObject({ field: "rules[0].condition", line: 2 });
    expect(body.details.problems[0]?.column).toBeGreaterThan(0);
    expect(body.details.problems[0]?.reason).toEqual(expect.any(String));

    const badCedar = await api.call("PUT", "/api/v1/policies/guard", { cedar: "permit(principal, action, resource) when { context.tierr >= 2 };" });
    expect(badCedar.statusCode).toBe(400);
    const cedarBody = badCedar.json() as { code: string; details: { problems: Record<string, unknown>[] } };
    expect(cedarBody.code).toBe("POLICY_INVALID");
    expect(cedarBody.details.problems[0]).toMatchObject({ field: "cedar", line: 1, column: 44 });
    expect((badCedar.json() as { error: string }).error).toContain("tierr");

    expect((await api.call("GET", "/api/v1/policies/guard")).json()).toMatchObject({ language: "rules", rules: good.rules });
    expect((await send(alice, bob)).json()).toMatchObject({ code: "POLICY_DENIED" });

    const createBad = await api.call("POST", "/api/v1/policies", { id: "broken", name: "broken", cedar: "permit(principal, action, resource) when {" });
    expect(createBad.json()).toMatchObject({ code: "POLICY_INVALID", details: { policy_id: "broken" } });
    expect((createBad.json() as { details: { problems: Record<string, unknown>[] } }).details.problems[0]).toMatchObject({ field: "cedar" });
    expect((await api.call("GET", "/api/v1/policies/broken")).statusCode).toBe(404);
  });

  it("PUT changes only the given fields; Cedar text replaces rules and rules replace Cedar", async () => {
    const prio = await api.call("PUT", "/api/v1/policies/guard", { priority: 7, description: "keeps bob quiet" });
    expect(prio.statusCode, prio.body).toBe(200);
    expect(prio.json()).toMatchObject({ id: "guard", name: "guard", priority: 7, description: "keeps bob quiet", enabled: true, language: "rules" });
    expect((prio.json() as { rules: unknown[] }).rules).toHaveLength(1);

    const cedar = `forbid(principal, action == Symbiont::Action::"tool.call", resource);`;
    expect((await api.call("PUT", "/api/v1/policies/guard", { cedar })).json()).toMatchObject({ language: "cedar", rules: [], cedar, priority: 7 });
    expect((await send(alice, bob)).statusCode).toBe(200);
    const rules = [{ effect: "audit", action: "message.*" }];
    expect((await api.call("PUT", "/api/v1/policies/guard", { rules })).json()).toMatchObject({ language: "rules", rules, cedar: null });
    expect((await api.call("PUT", "/api/v1/policies/guard", { enabled: false })).json()).toMatchObject({ enabled: false, rules });
    await api.call("GET", `/api/v1/agents/${bob}/messages`);
  });

  it("evaluates all applicable policies for an agent, and one policy on its own", async () => {
    await api.call("POST", "/api/v1/policies", { id: "no-net", name: "no net", priority: 5, rules: [{ effect: "deny", action: "sandbox.network", condition: "tier < Tier2" }] });
    const all = await api.call("POST", "/api/v1/policies/evaluate", { context: { agent_id: alice, operation: "sandbox.network" } });
    expect(all.statusCode, all.body).toBe(200);
    const d = all.json() as Record<string, unknown>;
    expect(Object.keys(d).sort()).toEqual(["allowed", "audit", "decision", "matched_rules", "policy_id", "reasons"]);
    expect(d).toMatchObject({ decision: "deny", allowed: false, policy_id: "no-net", audit: false });
    expect(d.matched_rules).toEqual([{ policy_id: "no-net", rule_index: 0, effect: "deny", action: "sandbox.network", condition: "tier < Tier2" }]);
    expect((d.reasons as string[])[0]).toContain("no-net");

    const asTier3 = await api.call("POST", "/api/v1/policies/evaluate", { context: { agent_id: alice, operation: "sandbox.network", security_tier: "Tier3" } });
    expect(asTier3.json()).toMatchObject({ decision: "not_applicable", matched_rules: [] });
    const other = await api.call("POST", "/api/v1/policies/evaluate", { context: { agent_id: alice, operation: "tool.call", resource: "ls" } });
    expect(other.json()).toMatchObject({ decision: "not_applicable", allowed: true, policy_id: "default" });
    const one = await api.call("POST", "/api/v1/policies/no-net/evaluate", { context: { agent_id: bob, operation: "message.send", resource: alice } });
    expect(one.json()).toMatchObject({ decision: "not_applicable", matched_rules: [] });
  });

  it("ids: a missing id is minted, a taken one is 409, unknown ones 404", async () => {
    const minted = await api.call("POST", "/api/v1/policies", { name: "anon", rules: [{ effect: "allow", action: "tool.call" }] });
    expect(minted.statusCode).toBe(201);
    expect((minted.json() as { id: string }).id).toMatch(/^[0-9a-f-]{36}$/);
    const taken = await api.call("POST", "/api/v1/policies", { id: "no-net", name: "again" });
    expect(taken.statusCode).toBe(409);
    expect(taken.json()).toMatchObject({ code: "POLICY_ALREADY_EXISTS", details: { policy_id: "no-net" } });
    expect((await api.call("GET", "/api/v1/policies/no-net")).json()).toMatchObject({ name: "no net" });
    for (const [method, url, body] of [
      ["GET", "/api/v1/policies/ghost", undefined],
      ["PUT", "/api/v1/policies/ghost", { priority: 1 }],
      ["DELETE", "/api/v1/policies/ghost", undefined],
      ["POST", "/api/v1/policies/ghost/evaluate", { context: { agent_id: alice, operation: "tool.call" } }],
    ] as const) {
      const res = await api.call(method, url, body);
      expect(res.statusCode, `${method} ${url}`).toBe(404);
      expect(res.json()).toMatchObject({ code: "POLICY_NOT_FOUND", details: { policy_id: "ghost" } });
    }
  });

  it("bad input is 400 with the failing fields; unknown agents 404", async () => {
    const shape = await api.call("POST", "/api/v1/policies", { id: "bad id/with slash", name: "", rules: [{ effect: "maybe", action: "x" }], extra: true });
    expect(shape.statusCode).toBe(400);
    const paths = (shape.json() as { details: { issues: { path: string }[] } }).details.issues.map((i) => i.path).sort();
    expect(paths).toEqual(["body", "body.id", "body.name", "body.rules.0.effect"]);
    const ctx = await api.call("POST", "/api/v1/policies/evaluate", { context: { agent_id: alice } });
    expect(ctx.json()).toMatchObject({ code: "VALIDATION_FAILED", details: { issues: [{ path: "body.context.operation" }] } });
    expect((await api.call("POST", "/api/v1/policies/evaluate", { context: { agent_id: "nope", operation: "x" } })).json()).toMatchObject({ code: "INVALID_AGENT_ID" });
    const ghost = await api.call("POST", "/api/v1/policies/evaluate", { context: { agent_id: "5b0e7f43-52c4-4a6a-9f43-1f1e2f3a4b5c", operation: "x" } });
    expect(ghost.statusCode).toBe(404);
    expect(ghost.json()).toMatchObject({ code: "AGENT_NOT_FOUND" });
    expect((await api.call("PUT", "/api/v1/policies/no-net", { id: "renamed" })).statusCode).toBe(400);
  });

  it("every policy route needs an admin key", async () => {
    const scoped = await api.key({ name: "pol-scoped", agent_ids: [alice] });
    const plain = await api.key({ name: "pol-plain" });
    const routes = [
      ["GET", "/api/v1/policies", undefined],
      ["POST", "/api/v1/policies", { name: "x" }],
      ["GET", "/api/v1/policies/no-net", undefined],
      ["PUT", "/api/v1/policies/no-net", { priority: 1 }],
      ["DELETE", "/api/v1/policies/no-net", undefined],
      ["POST", "/api/v1/policies/no-net/evaluate", { context: { agent_id: alice, operation: "x" } }],
      ["POST", "/api/v1/policies/evaluate", { context: { agent_id: alice, operation: "x" } }],
    ] as const;
    for (const [method, url, body] of routes) {
      for (const key of [scoped, plain]) {
        const res = await api.call(method, url, body, key);
        expect(res.statusCode, `${method} ${url}`).toBe(403);
        expect(res.json()).toMatchObject({ code: "ADMIN_REQUIRED" });
      }
      expect((await api.call(method, url, body, null)).statusCode).toBe(401);
    }
    expect((await api.call("GET", "/api/v1/policies/no-net")).json()).toMatchObject({ priority: 5 });
  });
});
