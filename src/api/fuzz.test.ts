/**
 * Sends malformed bodies, wrong types, huge numbers, unicode and random paths to every route and checks
 * that nothing answers 5xx, that every error has the `{error, code, details}` shape, and that the server
 * still serves afterwards. Deterministic (seeded) so a failure reproduces.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeApi, type TestApi } from "../../test/helpers/api.js";

let api: TestApi;
beforeAll(async () => {
  api = await makeApi({ api: { rate_limit: { enabled: false } } });
});
afterAll(async () => {
  await api.close();
});

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rand = prng(0xc0ffee);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;

const STRINGS = ["", " ", "a", "é漢字🙂", "\u0000\u202e", "../../etc/passwd", "%00", "x".repeat(5000), "Running", "Persistent", "{{ parameters.x }}", "<script>", "null", "true", "-1", "1e309"];
const NUMBERS = [0, -0, -1, 1, 1.5, 2 ** 53, -(2 ** 63), 1e308, -1e308, Number.MAX_SAFE_INTEGER, 0.1];

function value(depth = 0): unknown {
  const r = rand();
  if (depth > 3 || r < 0.3) return pick<unknown>([...STRINGS, ...NUMBERS, true, false, null]);
  if (r < 0.6) return Array.from({ length: Math.floor(rand() * 4) }, () => value(depth + 1));
  return Object.fromEntries(Array.from({ length: Math.floor(rand() * 5) }, () => [pick(FIELDS), value(depth + 1)]));
}

const FIELDS = ["name", "dsl", "execution_mode", "capabilities", "metadata", "state", "event_type", "payload", "workflow_id", "parameters", "agent_id", "async", "admin", "agent_ids", "id", "steps", "Scheduled", "CronScheduled", "interval", "secs", "nanos", "resource_limits", "memory_mb", "__proto__", "constructor", "expires_in_seconds"];

const RAW_BODIES = ["{", "[", "{\"name\":", "null", "\"str\"", "1e99999", "{\"a\":1}garbage", "\uFEFF{}", "{\"name\": \"\\ud800\"}", "[]".repeat(1000), "{".repeat(2000) + "}".repeat(2000)];

function body(): string {
  return rand() < 0.25 ? pick(RAW_BODIES) : JSON.stringify(value());
}

describe("api - fuzz", () => {
  it("no route answers 5xx to garbage, and the server lives on", async () => {
    const realAgent = (await api.call("POST", "/api/v1/agents", { name: "fuzz-target" })).json().id as string;
    const ids = [realAgent, "00000000-0000-4000-8000-000000000000", "not-a-uuid", "é", "%F0%9F%99%82", "..", "a".repeat(300), "sum-flow", "ffffffffffffffff"];
    const docs = (await api.call("GET", "/api/v1/openapi.json")).json() as { paths: Record<string, Record<string, unknown>> };
    const table = Object.entries(docs.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => [m.toUpperCase(), path] as const));
    expect(table.length).toBeGreaterThan(20);
    const failures: string[] = [];
    const check = async (method: string, url: string, payload?: string, contentType = "application/json") => {
      const res = await api.app.inject({
        method: method as "GET",
        url,
        headers: { authorization: api.admin, ...(payload !== undefined ? { "content-type": contentType } : {}) },
        ...(payload !== undefined ? { payload } : {}),
      });
      if (res.statusCode >= 500) failures.push(`${method} ${url.slice(0, 120)} ${payload?.slice(0, 120)} -> ${res.statusCode} ${res.body.slice(0, 200)}`);
      if (res.statusCode >= 400) {
        const b = res.json() as Record<string, unknown>;
        if (Object.keys(b).sort().join() !== "code,details,error") failures.push(`${method} ${url.slice(0, 120)} -> bad error shape ${res.body.slice(0, 200)}`);
      }
    };
    for (let round = 0; round < 12; round++) {
      for (const [method, path] of table) {
        const url = path.replace(/\{[^}]+\}/g, () => encodeURIComponent(pick(ids)).replace(/%25/g, "%"));
        const query = rand() < 0.3 ? `?ids_only=${encodeURIComponent(pick(STRINGS))}&${pick(FIELDS)}=${encodeURIComponent(pick(STRINGS))}` : "";
        await check(method, url + query, method === "GET" || method === "DELETE" ? undefined : body(), rand() < 0.1 ? pick(["text/plain", "application/xml", "application/json; charset=latin1", ""]) : "application/json");
      }
    }
    for (let i = 0; i < 150; i++) {
      const segs = Array.from({ length: 1 + Math.floor(rand() * 5) }, () => encodeURIComponent(pick([...STRINGS, ...ids, "agents", "workflows", "api", "v1", "keys"]).slice(0, 40)));
      await check(pick(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]), `/${rand() < 0.5 ? "api/v1/" : ""}${segs.join("/")}`, rand() < 0.5 ? body() : undefined);
    }
    expect(failures).toEqual([]);
    const health = await api.call("GET", "/api/v1/health", undefined, null);
    expect(health.statusCode).toBe(200);
    expect((await api.call("GET", "/api/v1/agents")).statusCode).toBe(200);
  });
});
