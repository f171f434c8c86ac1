import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeApi, type TestApi } from "../../test/helpers/api.js";

let api: TestApi;
beforeAll(async () => {
  api = await makeApi();
});
afterAll(async () => {
  await api.close();
});

function expectError(res: { statusCode: number; json(): unknown; body: string }, status: number, code: string): Record<string, unknown> {
  expect(res.statusCode, res.body).toBe(status);
  const body = res.json() as Record<string, unknown>;
  expect(Object.keys(body).sort()).toEqual(["code", "details", "error"]);
  expect(body.code).toBe(code);
  expect(typeof body.error).toBe("string");
  expect(res.body).not.toMatch(/\/(src|node_modules|work)\/|at .*\.ts:\d+/);
  return body;
}

describe("api - health probes", () => {
  it("GET /health answers the spec's HealthResponse without a key", async () => {
    const res = await api.call("GET", "/api/v1/health", undefined, null);
    expect(res.statusCode).toBe(200);
    const body = res.json() as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(["status", "timestamp", "uptime_seconds", "version"]);
    expect(body.status).toBe("healthy");
    expect(Number.isInteger(body.uptime_seconds)).toBe(true);
    expect(body.timestamp).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    expect(body.version).toBe("0.1.0");
  });

  it("live and ready answer without a key", async () => {
    expect((await api.call("GET", "/api/v1/health/live", undefined, null)).json()).toEqual({ status: "alive" });
    const ready = await api.call("GET", "/api/v1/health/ready", undefined, null);
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: "ready" });
  });

  it("ready answers 503 NOT_READY once shutdown began", async () => {
    const other = await makeApi();
    await other.runtime.shutdown();
    expectError(await other.call("GET", "/api/v1/health/ready", undefined, null), 503, "NOT_READY");
    expect((await other.call("GET", "/api/v1/health", undefined, null)).json()).toMatchObject({ status: "unhealthy" });
    await other.app.close();
  });
});

describe("api - cross-cutting", () => {
  it("every answer carries a request id (given or generated) and security headers", async () => {
    const given = await api.call("GET", "/api/v1/health", undefined, null, { "x-request-id": "abc-123" });
    expect(given.headers["x-request-id"]).toBe("abc-123");
    const made = await api.call("GET", "/api/v1/health", undefined, null, { "x-request-id": "bad id with spaces" });
    expect(made.headers["x-request-id"]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const missing = await api.call("GET", "/api/v1/nope", undefined, null);
    expect(missing.headers["x-request-id"]).toBeDefined();
    // A URL the router itself refuses is answered before any route hook runs.
    const undecodable = await api.call("GET", "/api/v1/agents/%zz", undefined, null);
    expect(undecodable.statusCode).toBe(400);
    for (const res of [given, missing, undecodable]) {
      expect(res.headers["x-content-type-options"]).toBe("nosniff");
      expect(res.headers["x-frame-options"]).toBe("DENY");
      expect(res.headers["cache-control"]).toBe("no-store");
      expect(res.headers["content-security-policy"]).toContain("default-src 'none'");
    }
  });

  it("unknown routes are 404 NOT_FOUND and wrong methods 405 with Allow", async () => {
    expectError(await api.call("GET", "/api/v1/no-such-route", undefined, null), 404, "NOT_FOUND");
    const res = await api.call("PATCH", "/api/v1/agents", {}, null);
    expectError(res, 405, "METHOD_NOT_ALLOWED");
    expect(res.headers.allow).toContain("GET");
    expect(res.headers.allow).toContain("POST");
    expectError(await api.call("DELETE", "/api/v1/health"), 405, "METHOD_NOT_ALLOWED");
  });

  it("malformed JSON is 400 MALFORMED_JSON, a wrong content type 415", async () => {
    expectError(await api.call("POST", "/api/v1/agents", "{not json", undefined, { "content-type": "application/json" }), 400, "MALFORMED_JSON");
    expectError(await api.call("POST", "/api/v1/agents", "name=x", undefined, { "content-type": "application/x-www-form-urlencoded" }), 415, "UNSUPPORTED_MEDIA_TYPE");
  });

  it("a wrong shape is 400 VALIDATION_FAILED naming every failing field", async () => {
    const body = expectError(await api.call("POST", "/api/v1/agents", { name: 5, capabilities: "x", extra: 1 }), 400, "VALIDATION_FAILED");
    const paths = (body.details as { issues: { path: string }[] }).issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(["body.name", "body.capabilities"]));
  });

  it("oversized bodies are 413 PAYLOAD_TOO_LARGE (2 MiB, 256 KiB on messaging-style routes)", async () => {
    expectError(await api.call("POST", "/api/v1/agents", { name: "x", dsl: "a".repeat(2 * 1024 * 1024 + 10) }), 413, "PAYLOAD_TOO_LARGE");
    const id = (await api.call("POST", "/api/v1/agents", { name: "big" })).json().id as string;
    const res = await api.call("POST", `/api/v1/agents/${id}/events`, { event_type: "RunCompleted", payload: "a".repeat(300 * 1024) });
    expectError(res, 413, "PAYLOAD_TOO_LARGE");
  });

  it("the OpenAPI document describes the routes from their zod schemas", async () => {
    expectError(await api.call("GET", "/api/v1/openapi.json", undefined, null), 401, "UNAUTHORIZED");
    const doc = (await api.call("GET", "/api/v1/openapi.json")).json() as {
      openapi: string;
      paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { properties: Record<string, unknown> } }> }; security?: unknown[]; parameters: { name: string }[] }>>;
    };
    expect(doc.openapi).toBe("3.0.3");
    const create = doc.paths["/api/v1/agents"]?.post;
    expect(Object.keys(create?.requestBody?.content["application/json"]?.schema.properties ?? {})).toEqual(
      expect.arrayContaining(["name", "dsl", "execution_mode", "capabilities", "metadata"]),
    );
    expect(doc.paths["/api/v1/health"]?.get?.security).toEqual([]);
    expect(doc.paths["/api/v1/agents/{id}/status"]?.get?.parameters.map((p) => p.name)).toEqual(["id"]);
    expect(doc.paths["/api/v1/workflows/execute"]?.post).toBeDefined();
    const page = await api.call("GET", "/api/v1/docs", undefined, null);
    expect(page.statusCode).toBe(200);
    expect(page.headers["content-type"]).toContain("text/html");
    expect(page.body).toContain("docs/app.js");
    expect((await api.call("GET", "/api/v1/docs/app.js", undefined, null)).body).toContain("openapi.json");
  });

  it("Prometheus text at /metrics and the spec's JSON metrics from real counters", async () => {
    expectError(await api.call("GET", "/metrics", undefined, null), 401, "UNAUTHORIZED");
    expectError(await api.call("GET", "/api/v1/no-such-route", undefined, null), 404, "NOT_FOUND");
    const prom = await api.call("GET", "/metrics");
    expect(prom.statusCode).toBe(200);
    expect(prom.headers["content-type"]).toContain("text/plain");
    expect(prom.body).toMatch(/symbiont_http_requests_total\{method="GET",route="\/api\/v1\/health",status="200"\} \d+/);
    // Refused and unknown requests are counted too.
    expect(prom.body).toMatch(/symbiont_http_requests_total\{method="GET",route="\/metrics",status="401"\} [1-9]/);
    expect(prom.body).toMatch(/symbiont_http_requests_total\{method="GET",route="unmatched",status="404"\} [1-9]/);
    // The histogram is cumulative: +Inf and _count both hold every answered request of the route.
    const health = 'method="GET",route="/api/v1/health"';
    const count = Number(new RegExp(`symbiont_http_request_duration_seconds_count\\{${health}\\} (\\d+)`).exec(prom.body)?.[1]);
    expect(count).toBeGreaterThan(0);
    expect(prom.body).toContain(`symbiont_http_request_duration_seconds_bucket{le="+Inf",${health}} ${count}`);
    expect(prom.body).toMatch(new RegExp(`symbiont_http_request_duration_seconds_bucket\\{le="0\\.001",${health}\\} \\d+`));
    expect(prom.body).toContain("symbiont_agents{state=\"Running\"}");
    expect(prom.body).toContain("symbiont_process_resident_memory_bytes");
    const json = (await api.call("GET", "/api/v1/metrics")).json() as {
      agents: Record<string, number>;
      system: Record<string, number>;
      performance: Record<string, number>;
    };
    expect(Object.keys(json).sort()).toEqual(["agents", "performance", "system"]);
    expect(Object.keys(json.agents).sort()).toEqual(["running", "stopped", "total"]);
    expect(json.agents.total).toBe(json.agents.running! + json.agents.stopped!);
    expect(Object.keys(json.system).sort()).toEqual(["cpu_usage", "memory_usage", "uptime_seconds"]);
    expect(json.system.memory_usage).toBeGreaterThan(0);
    expect(json.system.memory_usage).toBeLessThanOrEqual(100);
    expect(Object.keys(json.performance).sort()).toEqual(["avg_response_time_ms", "messages_per_second"]);
    expect(json.performance.avg_response_time_ms).toBeGreaterThan(0);
  });

  it("CORS follows the configured origins", async () => {
    const cors = await makeApi({ api: { enable_cors: true, cors_origins: ["https://ops.example"] } });
    const pre = await cors.call("OPTIONS", "/api/v1/agents", undefined, null, { origin: "https://ops.example", "access-control-request-method": "GET" });
    expect(pre.statusCode).toBe(204);
    expect(pre.headers["access-control-allow-origin"]).toBe("https://ops.example");
    const other = await cors.call("GET", "/api/v1/health", undefined, null, { origin: "https://evil.example" });
    expect(other.headers["access-control-allow-origin"]).toBeUndefined();
    expect((await api.call("GET", "/api/v1/health", undefined, null, { origin: "https://ops.example" })).headers["access-control-allow-origin"]).toBeUndefined();
    await cors.close();
  });

  it("GET /status summarizes the runtime", async () => {
    const body = (await api.call("GET", "/api/v1/status")).json() as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(["agents", "started_at", "status", "totals", "uptime_seconds", "version", "workflows"]);
    expect(body.status).toBe("ready");
    expect((body.agents as { by_state: Record<string, number> }).by_state).toHaveProperty("Running");
  });
});

describe("api - extension routes", () => {
  it("a route module passed to createApiServer gets validation, auth, scope helpers and OpenAPI", async () => {
    const { z } = await import("zod");
    const { route } = await import("./context.js");
    const { messageIdString } = await import("./route.js");
    const { createApiServer } = await import("./server.js");
    const { MemoryApiKeyStore } = await import("./keys/index.js");
    const base = await makeApi();
    const app = await createApiServer(base.runtime, {
      keyStore: new MemoryApiKeyStore(),
      routes: [
        (a, ctx) =>
          route(a, ctx, {
            method: "GET",
            url: "/extensions/:id/status",
            tag: "extensions",
            access: "key",
            summary: "test route",
            params: z.object({ id: messageIdString }),
            handler: ({ params }) => ({ message_id: params.id, status: "pending" }),
          }),
      ],
    });
    const { token } = await app.apiKeys!.create({ name: "x" });
    const auth = { authorization: `Bearer ${token}` };
    expect((await app.inject({ url: "/api/v1/extensions/00000000-0000-4000-8000-000000000000/status" })).statusCode).toBe(401);
    const bad = await app.inject({ url: "/api/v1/extensions/nope/status", headers: auth });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: "INVALID_MESSAGE_ID" });
    const ok = await app.inject({ url: "/api/v1/extensions/00000000-0000-4000-8000-000000000000/status", headers: auth });
    expect(ok.json()).toEqual({ message_id: "00000000-0000-4000-8000-000000000000", status: "pending" });
    const doc = (await app.inject({ url: "/api/v1/openapi.json", headers: auth })).json() as { paths: Record<string, unknown> };
    expect(doc.paths["/api/v1/extensions/{id}/status"]).toBeDefined();
    await app.close();
    await base.close();
  });
});
