import { chmodSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeApi, type TestApi } from "../../../test/helpers/api.js";
import { tier0Requirement } from "../../../test/helpers/requirements.js";
import { AgentId, SandboxId } from "../../core/ids.js";
import type { SandboxConfig } from "../../sandbox/types.js";

let api: TestApi;
let alice: AgentId;
let bob: AgentId;

type Sandbox = Record<string, unknown> & { id: string; resource_usage: Record<string, unknown> | null };

beforeAll(async () => {
  api = await makeApi();
  // The sandbox user must be able to reach its workspace under the data dir.
  chmodSync(api.runtime.config.data_dir, 0o711);
  alice = (await api.call("POST", "/api/v1/agents", { name: "sbx-alice" })).json().id as AgentId;
  bob = (await api.call("POST", "/api/v1/agents", { name: "sbx-bob" })).json().id as AgentId;
});
afterAll(async () => {
  await api.close();
});

const tier0 = await tier0Requirement(async () => {
  const probe = await makeApi();
  chmodSync(probe.runtime.config.data_dir, 0o711);
  return { sandboxes: probe.runtime.sandboxes, shutdown: () => probe.close() };
});

function config(agent_id: AgentId): SandboxConfig {
  return {
    agent_id,
    security_tier: "Tier0",
    resource_limits: { memory_mb: 64, cpu_cores: 1, disk_io_mbps: 100, network_io_mbps: 10, execution_timeout: 15_000, idle_timeout: 60_000 },
    network_config: { enabled: false },
    filesystem_config: { mounts: [] },
    environment_variables: {},
  };
}

async function list(query = ""): Promise<{ sandboxes: Sandbox[]; next_cursor: string | null }> {
  const res = await api.call("GET", `/api/v1/sandboxes${query}`);
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as { sandboxes: Sandbox[]; next_cursor: string | null };
}

describe.skipIf(!tier0.available)("api - sandboxes on the process tier", () => {
  it("lists sandboxes with tier, backend, state and times; measures usage when asked; filters and pages", async () => {
    const { sandboxes } = api.runtime;
    const a1 = await sandboxes.createSandbox(config(alice));
    const a2 = await sandboxes.createSandbox(config(alice));
    const b1 = await sandboxes.createSandbox(config(bob));
    await sandboxes.startSandbox(a1);

    const all = await list();
    expect(all.next_cursor).toBeNull();
    expect(all.sandboxes.map((s) => s.id).sort()).toEqual([a1, a2, b1].sort());
    const running = all.sandboxes.find((s) => s.id === a1) as Sandbox;
    expect(Object.keys(running).sort()).toEqual(["agent_id", "backend", "created_at", "destroyed_at", "error", "id", "isolation", "resource_usage", "started_at", "state", "stopped_at", "tier"]);
    expect(running).toMatchObject({ agent_id: alice, tier: "Tier0", backend: "process", state: "Running", stopped_at: null, destroyed_at: null, error: null, resource_usage: null });
    expect(running.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(Date.parse(running.started_at as string)).toBeGreaterThanOrEqual(Date.parse(running.created_at as string));
    expect(all.sandboxes.find((s) => s.id === a2)).toMatchObject({ state: "Created", started_at: null });

    const measured = await list("?usage=true");
    const usage = measured.sandboxes.find((s) => s.id === a1)?.resource_usage as Record<string, unknown>;
    expect(Object.keys(usage).sort()).toEqual(["cpu_time_ms", "io_read_bytes", "io_write_bytes", "measured_at", "memory_bytes", "memory_limit_bytes", "net_rx_bytes", "net_tx_bytes", "pids"]);
    expect(usage.memory_limit_bytes).toBe(64 * 1024 * 1024);
    expect(usage.memory_bytes).toEqual(expect.any(Number));
    expect(usage.pids).toEqual(expect.any(Number));
    expect(usage.measured_at).toMatch(/Z$/);

    expect((await list(`?agent_id=${bob}`)).sandboxes.map((s) => s.id)).toEqual([b1]);
    expect((await list("?state=Running")).sandboxes.map((s) => s.id)).toEqual([a1]);
    const first = await list("?limit=2");
    const second = await list(`?limit=2&cursor=${first.next_cursor as string}`);
    expect([...first.sandboxes, ...second.sandboxes].map((s) => s.id)).toEqual(all.sandboxes.map((s) => s.id));
    expect(second.next_cursor).toBeNull();

    const one = await api.call("GET", `/api/v1/sandboxes/${a1}`);
    expect(one.statusCode).toBe(200);
    expect(one.json()).toMatchObject({ id: a1, state: "Running", resource_usage: { memory_limit_bytes: 64 * 1024 * 1024 } });

    await sandboxes.destroySandbox(a2);
    const gone = (await api.call("GET", `/api/v1/sandboxes/${a2}`)).json() as Sandbox;
    expect(gone).toMatchObject({ id: a2, state: "Destroyed", resource_usage: null });
    expect(gone.destroyed_at).toEqual(expect.any(String));
    expect((await list()).sandboxes.map((s) => s.id)).not.toContain(a2);
    await sandboxes.destroySandbox(a1);
    await sandboxes.destroySandbox(b1);
  });
});

describe("api - sandboxes errors and access", () => {
  it("unknown ids are 404, malformed input 400 with the failing fields", async () => {
    const missing = await api.call("GET", `/api/v1/sandboxes/${SandboxId.new()}`);
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ code: "SANDBOX_NOT_FOUND" });
    const bad = await api.call("GET", "/api/v1/sandboxes/12");
    expect(bad.json()).toMatchObject({ code: "VALIDATION_FAILED", details: { issues: [{ path: "params.id" }] } });
    const badQuery = await api.call("GET", "/api/v1/sandboxes?state=Sleeping&usage=yes");
    expect(badQuery.statusCode).toBe(400);
    expect((badQuery.json() as { details: { issues: { path: string }[] } }).details.issues.map((i) => i.path).sort()).toEqual(["query.state", "query.usage"]);
  });

  it("needs an admin key", async () => {
    const scoped = await api.key({ name: "sbx-scoped", agent_ids: [alice] });
    for (const url of ["/api/v1/sandboxes", `/api/v1/sandboxes/${SandboxId.new()}`]) {
      const res = await api.call("GET", url, undefined, scoped);
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ code: "ADMIN_REQUIRED" });
      expect((await api.call("GET", url, undefined, null)).statusCode).toBe(401);
    }
  });
});
