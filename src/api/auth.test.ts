import { Agent, request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeApi, type TestApi } from "../../test/helpers/api.js";
import { createApiServer } from "./server.js";

let api: TestApi;
beforeAll(async () => {
  api = await makeApi();
});
afterAll(async () => {
  await api.close();
});

describe("api - authentication", () => {
  it("every non-health route is 401 UNAUTHORIZED without a key or with a bad one", async () => {
    for (const auth of [null, "Bearer nope", `Bearer 0123456789abcdef.${"x".repeat(43)}`, "Basic YTpi"]) {
      for (const [m, p] of [["GET", "/api/v1/agents"], ["POST", "/api/v1/agents"], ["GET", "/api/v1/status"], ["GET", "/api/v1/keys"], ["POST", "/api/v1/workflows/execute"]] as const) {
        const res = await api.call(m, p, m === "POST" ? { name: "x" } : undefined, auth);
        expect(res.statusCode, `${m} ${p} ${auth}`).toBe(401);
        expect(res.json()).toMatchObject({ code: "UNAUTHORIZED" });
      }
    }
  });

  it("a revoked key is 401 at once; keys are listed without secrets", async () => {
    const res = await api.call("POST", "/api/v1/keys", { name: "temp" });
    expect(res.statusCode).toBe(201);
    const created = res.json() as Record<string, unknown>;
    expect(Object.keys(created).sort()).toEqual(["admin", "agent_ids", "created_at", "expires_at", "key", "key_id", "last_used_at", "name", "revoked_at"]);
    expect(created).toMatchObject({ name: "temp", admin: false, agent_ids: null, revoked_at: null, expires_at: null });
    const bearer = `Bearer ${created.key as string}`;
    expect((await api.call("GET", "/api/v1/agents", undefined, bearer)).statusCode).toBe(200);
    const listed = (await api.call("GET", "/api/v1/keys")).json() as { keys: Record<string, unknown>[] };
    expect(JSON.stringify(listed)).not.toContain((created.key as string).split(".")[1]);
    expect(listed.keys.find((k) => k.key_id === created.key_id)).not.toHaveProperty("key");
    const revoked = await api.call("DELETE", `/api/v1/keys/${created.key_id as string}`);
    expect(revoked.json()).toMatchObject({ key_id: created.key_id, revoked_at: expect.stringMatching(/Z$/) });
    const after = await api.call("GET", "/api/v1/agents", undefined, bearer);
    expect(after.statusCode).toBe(401);
    expect((after.json() as { error: string }).error).toContain("revoked");
    expect((await api.call("DELETE", "/api/v1/keys/ffffffffffffffff")).json()).toMatchObject({ code: "API_KEY_NOT_FOUND" });
  });

  it("key routes need an admin key: 403 ADMIN_REQUIRED", async () => {
    const plain = await api.key({ name: "plain" });
    const res = await api.call("GET", "/api/v1/keys", undefined, plain);
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ code: "ADMIN_REQUIRED" });
    expect((await api.call("POST", "/api/v1/workflows", { id: "w", steps: [{ id: "s" }] }, plain)).statusCode).toBe(403);
  });

  it("a scoped key sees and acts on only its agents: 403 AGENT_SCOPE_DENIED otherwise", async () => {
    const mine = (await api.call("POST", "/api/v1/agents", { name: "mine" })).json().id as string;
    const other = (await api.call("POST", "/api/v1/agents", { name: "other" })).json().id as string;
    const scoped = await api.key({ name: "scoped", agent_ids: [mine.toUpperCase()] });
    const list = (await api.call("GET", "/api/v1/agents", undefined, scoped)).json() as { id: string }[];
    expect(list.map((a) => a.id)).toEqual([mine]);
    expect((await api.call("GET", `/api/v1/agents/${mine}/status`, undefined, scoped)).statusCode).toBe(200);
    for (const [m, p] of [["GET", `/api/v1/agents/${other}/status`], ["POST", `/api/v1/agents/${other}/suspend`], ["DELETE", `/api/v1/agents/${other}`], ["PUT", `/api/v1/agents/${other}`]] as const) {
      const res = await api.call(m, p, m === "PUT" ? { name: "x" } : undefined, scoped);
      expect(res.statusCode, `${m} ${p}`).toBe(403);
      expect(res.json()).toMatchObject({ code: "AGENT_SCOPE_DENIED", details: { agent_id: other } });
    }
    expect((await api.call("POST", "/api/v1/agents", { name: "new" }, scoped)).json()).toMatchObject({ code: "AGENT_SCOPE_DENIED" });
    expect((await api.call("POST", "/api/v1/keys", { name: "bad", admin: true, agent_ids: [mine] })).statusCode).toBe(400);
  });

  it("refuses to revoke the last admin key with itself", async () => {
    const other = await makeApi();
    const keys = (await other.call("GET", "/api/v1/keys")).json() as { keys: { key_id: string }[] };
    const self = keys.keys[0]?.key_id as string;
    expect((await other.call("DELETE", `/api/v1/keys/${self}`)).json()).toMatchObject({ code: "ADMIN_REQUIRED" });
    await other.close();
  });

  it("each request on one keep-alive connection is judged by its own key, whatever the connection sent before", async () => {
    const server = await makeApi();
    const base = await server.app.listen({ host: "127.0.0.1", port: 0 });
    const plain = await server.key({ name: "plain" });
    const [keyId] = server.admin.slice("Bearer ".length).split(".");
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const ports = new Set<number>();
    const get = (path: string, authorization: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(`${base}${path}`, { agent, headers: { authorization } }, (res) => {
          ports.add(req.socket?.localPort ?? -1);
          let body = "";
          res.setEncoding("utf8").on("data", (c: string) => (body += c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on("error", reject).end();
      });
    try {
      expect((await get("/api/v1/keys", server.admin)).status).toBe(200);
      expect((await get("/api/v1/keys", plain)).status).toBe(403);
      expect((await get("/api/v1/keys", `Bearer ${keyId}.${"x".repeat(43)}`)).status).toBe(401);
      expect((await get("/api/v1/keys", server.admin)).status).toBe(200);
      expect((await get("/api/v1/keys", "Bearer nope")).status).toBe(401);
      expect(ports.size).toBe(1);
    } finally {
      agent.destroy();
      await server.close();
    }
  });

  it("auth can be disabled only on a loopback bind", async () => {
    const open = await makeApi({ api: { auth_required: false } });
    expect((await open.call("GET", "/api/v1/agents", undefined, null)).statusCode).toBe(200);
    await open.close();
    const wide = await makeApi();
    await expect(
      createApiServer({ ...wide.runtime, config: { ...wide.runtime.config, api: { ...wide.runtime.config.api, auth_required: false, bind_address: "0.0.0.0" } } }),
    ).rejects.toMatchObject({ code: "CONFIGURATION_ERROR" });
    await wide.close();
  });
});

describe("api - rate limiting", () => {
  it("answers 429 RATE_LIMITED with Retry-After after the burst, per key and per address", async () => {
    const small = await makeApi({ api: { rate_limit: { max_per_key: 5, max_per_ip: 4, window: 60_000 } } });
    // A key's first use counts against the address (it is not verified yet); later uses against the key.
    expect((await small.call("GET", "/api/v1/agents")).statusCode).toBe(200);
    for (let i = 0; i < 5; i++) expect((await small.call("GET", "/api/v1/agents")).statusCode).toBe(200);
    const limited = await small.call("GET", "/api/v1/agents");
    expect(limited.statusCode).toBe(429);
    expect(limited.json()).toMatchObject({ code: "RATE_LIMITED", details: { limit: 5 } });
    expect(Number(limited.headers["retry-after"])).toBeGreaterThan(0);
    // The address bucket is separate: unauthenticated calls get their own (smaller) allowance.
    for (let i = 0; i < 3; i++) expect((await small.call("GET", "/api/v1/status", undefined, null)).statusCode).toBe(401);
    expect((await small.call("GET", "/api/v1/status", undefined, null)).statusCode).toBe(429);
    // Health probes are never limited: an orchestrator must not read a 429 as a dead runtime.
    for (const probe of ["/api/v1/health", "/api/v1/health/live", "/api/v1/health/ready"]) {
      expect((await small.call("GET", probe, undefined, null)).statusCode).toBe(200);
    }
    // Guessing secrets is throttled per address before any key check, even for a known key id.
    expect((await small.call("GET", "/api/v1/agents", undefined, `Bearer 0123456789abcdef.${"x".repeat(43)}`)).statusCode).toBe(429);
    const knownId = small.admin.slice("Bearer ".length).split(".")[0] as string;
    expect((await small.call("GET", "/api/v1/agents", undefined, `Bearer ${knownId}.${"x".repeat(43)}`)).statusCode).toBe(429);
    await small.close();
  });
});
