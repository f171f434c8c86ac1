import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "../core/logger.js";
import { createRuntime } from "../runtime.js";
import { MemoryApiKeyStore } from "./keys/index.js";
import { createApiServer } from "./server.js";

async function withLogs(enable_tracing: boolean) {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  const logger = createLogger({ level: "debug", destination: sink });
  const runtime = await createRuntime({ config: { api: { key_store: "memory", enable_tracing } }, logger });
  const keyStore = new MemoryApiKeyStore();
  const app = await createApiServer(runtime, { keyStore });
  const { token } = await app.apiKeys!.create({ name: "log-test", admin: true });
  return { lines, app, runtime, token };
}

describe("api - request logging and tracing", () => {
  it("every request's log lines carry its request id, and never the key", async () => {
    const { lines, app, runtime, token } = await withLogs(false);
    await app.inject({ url: "/api/v1/agents", headers: { "x-request-id": "req-1", authorization: `Bearer ${token}` } });
    await app.inject({ url: "/api/v1/agents", headers: { "x-request-id": "req-2" } });
    await app.inject({ method: "POST", url: "/api/v1/agents", headers: { "x-request-id": "req-3", authorization: `Bearer ${token}`, "content-type": "application/json" }, payload: "{" });
    await app.close();
    await runtime.shutdown();
    const api = lines.filter((l) => l.component === "api");
    for (const id of ["req-1", "req-2", "req-3"]) expect(api.filter((l) => l.request_id === id).length, id).toBeGreaterThan(0);
    expect(api.every((l) => typeof l.request_id === "string")).toBe(true);
    expect(api.find((l) => l.request_id === "req-1" && l.msg === "request")).toMatchObject({ method: "GET", route: "/api/v1/agents", status: 200, key_id: token.split(".")[0] });
    expect(JSON.stringify(lines)).not.toContain(token.split(".")[1]);
  });

  it("with enable_tracing, a span per request continues the caller's traceparent", async () => {
    const { lines, app, runtime } = await withLogs(true);
    const trace = "0af7651916cd43dd8448eb211c80319c";
    const res = await app.inject({ url: "/api/v1/health", headers: { traceparent: `00-${trace}-b7ad6b7169203331-01` } });
    expect(res.headers.traceparent).toMatch(new RegExp(`^00-${trace}-[0-9a-f]{16}-01$`));
    const fresh = await app.inject({ url: "/api/v1/health" });
    expect(fresh.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    await app.close();
    await runtime.shutdown();
    const span = lines.find((l) => l.msg === "span" && (l.span as { trace_id: string }).trace_id === trace);
    expect(span).toMatchObject({ trace_id: trace, status: 200, span: { name: "GET /api/v1/health", parent_span_id: "b7ad6b7169203331" } });
    expect(typeof span?.duration_ms).toBe("number");
  });
});
