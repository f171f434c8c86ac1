import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeApi, type TestApi } from "../../../test/helpers/api.js";
import { verifyExportFile } from "../../audit/index.js";

let api: TestApi;
let alice: string;
let bob: string;

type Event = { id: string; seq: number; timestamp: string; event_type: string; agent_id: string | null; details: string; metadata: Record<string, string>; prev_hash: string; hash: string };
type Page = { events: Event[]; next_cursor: string | null };

async function create(name: string): Promise<string> {
  const res = await api.call("POST", "/api/v1/agents", { name });
  expect(res.statusCode, res.body).toBe(200);
  return (res.json() as { id: string }).id;
}

async function page(query: string, auth?: string): Promise<Page> {
  const res = await api.call("GET", `/api/v1/audit/events${query}`, undefined, auth);
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as Page;
}

beforeAll(async () => {
  api = await makeApi();
  alice = await create("audit-alice");
  bob = await create("audit-bob");
});
afterAll(async () => {
  await api.close();
});

describe("api - audit events", () => {
  it("lists an agent's records newest first with every field, and pages with the cursor", async () => {
    const first = await page(`?agent_id=${alice}&limit=2`);
    expect(first.events).toHaveLength(2);
    const e = first.events[0] as Event;
    expect(Object.keys(e).sort()).toEqual(["agent_id", "details", "event_type", "hash", "id", "metadata", "prev_hash", "seq", "timestamp"]);
    expect(e.agent_id).toBe(alice);
    expect(e.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(e.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(e.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(e.prev_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(typeof e.metadata.event).toBe("string");
    expect((first.events[0] as Event).seq).toBeGreaterThan((first.events[1] as Event).seq);
    expect(first.next_cursor).toEqual(expect.any(String));

    const all = await page(`?agent_id=${alice}&limit=1000`);
    expect(all.next_cursor).toBeNull();
    expect(all.events.every((r) => r.agent_id === alice)).toBe(true);
    const second = await page(`?agent_id=${alice}&limit=2&cursor=${first.next_cursor as string}`);
    expect(second.events.map((r) => r.seq)).toEqual(all.events.slice(2, 4).map((r) => r.seq));

    const asc = await page(`?agent_id=${alice}&order=asc&limit=1000`);
    expect(asc.events.map((r) => r.seq)).toEqual([...all.events].reverse().map((r) => r.seq));
    expect(asc.events[0]?.event_type).toBe("AgentCreated");
  });

  it("filters by event type (repeated or comma-separated), time range and text", async () => {
    const created = await page(`?event_type=AgentCreated`);
    expect(created.events.map((r) => r.agent_id).sort()).toEqual([alice, bob].sort());
    const two = await page(`?event_type=AgentCreated,AgentStarted&agent_id=${bob}`);
    expect(new Set(two.events.map((r) => r.event_type))).toEqual(new Set(["AgentCreated", "AgentStarted"]));
    const repeated = await page(`?event_type=AgentCreated&event_type=AgentStarted&agent_id=${bob}`);
    expect(repeated.events.map((r) => r.id)).toEqual(two.events.map((r) => r.id));

    expect((await page(`?to=2000-01-01T00:00:00Z`)).events).toEqual([]);
    const since = (two.events.at(-1) as Event).timestamp;
    const fromIso = await page(`?agent_id=${bob}&from=${encodeURIComponent(since)}&limit=1000`);
    const fromMs = await page(`?agent_id=${bob}&from=${Date.parse(since)}&limit=1000`);
    expect(fromIso.events.length).toBeGreaterThan(0);
    expect(fromIso.events.map((r) => r.id)).toEqual(fromMs.events.map((r) => r.id));
    expect(fromIso.events.every((r) => r.timestamp >= since)).toBe(true);

    const text = (created.events[0] as Event).details.slice(0, 8).toUpperCase();
    expect((await page(`?text=${encodeURIComponent(text)}&event_type=AgentCreated`)).events.length).toBeGreaterThan(0);
  });

  it("reads one record; unknown and malformed ids are typed errors", async () => {
    const [latest] = (await page(`?agent_id=${alice}&limit=1`)).events;
    const one = await api.call("GET", `/api/v1/audit/events/${latest?.id}`);
    expect(one.statusCode).toBe(200);
    expect(one.json()).toEqual(latest);
    const missing = await api.call("GET", "/api/v1/audit/events/0190c8a4-0000-7000-8000-000000000000");
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ code: "AUDIT_EVENT_NOT_FOUND" });
    const bad = await api.call("GET", "/api/v1/audit/events/nope");
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: "VALIDATION_FAILED", details: { issues: [{ path: "params.id" }] } });
  });

  it("bad filters are 400 with the failing fields", async () => {
    const badType = await api.call("GET", "/api/v1/audit/events?event_type=AgentCreated,Bogus");
    expect(badType.statusCode).toBe(400);
    expect(badType.json()).toMatchObject({ code: "VALIDATION_FAILED", details: { issues: [expect.objectContaining({ path: expect.stringMatching(/^query\.event_type/) })] } });
    const badTime = await api.call("GET", "/api/v1/audit/events?from=yesterday&limit=0");
    expect(badTime.statusCode).toBe(400);
    const paths = (badTime.json() as { details: { issues: { path: string }[] } }).details.issues.map((i) => i.path).sort();
    expect(paths).toEqual(["query.from", "query.limit"]);
    expect((await api.call("GET", "/api/v1/audit/events?agent_id=xyz")).json()).toMatchObject({ code: "INVALID_AGENT_ID" });
    expect((await api.call("GET", "/api/v1/audit/events?cursor=garbage")).json()).toMatchObject({ code: "AUDIT_QUERY_INVALID" });
    expect((await api.call("GET", "/api/v1/audit/events?severity=high")).statusCode).toBe(400);
  });

  it("a scoped key reads only its agents' records; verify and export need an admin key; no key is 401", async () => {
    const scoped = await api.key({ name: "audit-scoped", agent_ids: [alice] });
    const mine = await page("?limit=1000", scoped);
    expect(mine.events.length).toBeGreaterThan(0);
    expect(mine.events.every((r) => r.agent_id === alice)).toBe(true);
    const denied = await api.call("GET", `/api/v1/audit/events?agent_id=${bob}`, undefined, scoped);
    expect(denied.statusCode).toBe(403);
    expect(denied.json()).toMatchObject({ code: "AGENT_SCOPE_DENIED" });
    const [bobs] = (await page(`?agent_id=${bob}&limit=1`)).events;
    expect((await api.call("GET", `/api/v1/audit/events/${bobs?.id}`, undefined, scoped)).json()).toMatchObject({ code: "AGENT_SCOPE_DENIED" });

    const both = await api.key({ name: "audit-both", agent_ids: [alice, bob] });
    expect((await api.call("GET", "/api/v1/audit/events", undefined, both)).json()).toMatchObject({ code: "AGENT_SCOPE_DENIED" });
    expect((await page(`?agent_id=${bob}&limit=1`, both)).events[0]?.agent_id).toBe(bob);

    for (const [method, url] of [["POST", "/api/v1/audit/verify"], ["GET", "/api/v1/audit/export"]] as const) {
      const res = await api.call(method, url, method === "POST" ? {} : undefined, scoped);
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ code: "ADMIN_REQUIRED" });
      expect((await api.call(method, url, method === "POST" ? {} : undefined, null)).statusCode).toBe(401);
    }
    expect((await api.call("GET", "/api/v1/audit/events", undefined, null)).json()).toMatchObject({ code: "UNAUTHORIZED" });
  });
});

describe("api - audit verify and export", () => {
  it("verifies the chain over a sequence range and refuses bad ranges", async () => {
    const res = await api.call("POST", "/api/v1/audit/verify", {});
    expect(res.statusCode, res.body).toBe(200);
    const report = res.json() as Record<string, unknown>;
    expect(Object.keys(report).sort()).toEqual(["checkpoints_checked", "first_broken_seq", "from_seq", "key_id", "problem", "records_checked", "to_seq", "unsigned_records", "valid"]);
    expect(report).toMatchObject({ valid: true, from_seq: 1, first_broken_seq: null, problem: null });
    expect(report.records_checked).toBe((report.to_seq as number) - 1 + 1);
    const part = (await api.call("POST", "/api/v1/audit/verify", { from_sequence: 2, to_sequence: 3 })).json();
    expect(part).toMatchObject({ valid: true, from_seq: 2, to_seq: 3, records_checked: 2 });
    const reversed = await api.call("POST", "/api/v1/audit/verify", { from_sequence: 3, to_sequence: 2 });
    expect(reversed.statusCode).toBe(400);
    expect(reversed.json()).toMatchObject({ code: "VALIDATION_FAILED", details: { issues: [{ path: "body.from_sequence" }] } });
    const zero = await api.call("POST", "/api/v1/audit/verify", { from_sequence: 0, extra: 1 });
    expect(zero.statusCode).toBe(400);
    expect((zero.json() as { details: { issues: unknown[] } }).details.issues).toHaveLength(2);
  });

  it("streams json, ndjson and csv exports that verify offline against the served public key", async () => {
    const key = (await api.call("GET", "/api/v1/audit/public-key")).json() as { key_id: string; public_key: string };
    expect(key.public_key).toContain("BEGIN PUBLIC KEY");
    const types = { json: "application/json", ndjson: "application/x-ndjson", csv: "text/csv" } as const;
    for (const format of ["json", "ndjson", "csv"] as const) {
      const res = await api.call("GET", `/api/v1/audit/export?format=${format}`);
      expect(res.statusCode, res.body).toBe(200);
      expect(res.headers["content-type"]).toContain(types[format]);
      expect(res.headers["content-disposition"]).toMatch(new RegExp(`^attachment; filename="symbiont-audit-.+\\.${format}"$`));
      const file = join(api.runtime.config.data_dir, `export.${format}`);
      writeFileSync(file, res.rawPayload);
      const report = await verifyExportFile(file, { publicKeyPem: key.public_key });
      expect(report).toMatchObject({ valid: true, format, filtered: false, first_broken_seq: null });
      expect(report.records_checked).toBeGreaterThan(4);
      if (format !== "csv") {
        expect(report).toMatchObject({ key_source: "given", key_id: key.key_id, unsigned_records: 0 });
        expect(report.checkpoints_checked).toBeGreaterThan(0);
      }
    }
    const ndjson = join(api.runtime.config.data_dir, "export.ndjson");
    writeFileSync(ndjson, readFileSync(ndjson, "utf8").replace(/"details":"([^"]+)"/, '"details":"$1 (edited)"'));
    expect(await verifyExportFile(ndjson)).toMatchObject({ valid: false, problem: { kind: "edited" } });
  });

  it("a filtered export holds only the matching records; bad formats and filters are 400 before any byte streams", async () => {
    const res = await api.call("GET", `/api/v1/audit/export?format=ndjson&agent_id=${bob}`);
    const lines = res.body.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ type: "header", filtered: true, query: { agent_id: bob } });
    const records = lines.filter((l) => l.type === "record");
    expect(records.length).toBeGreaterThan(0);
    expect(records.every((r) => r.agent_id === bob)).toBe(true);
    const bad = await api.call("GET", "/api/v1/audit/export?format=xml");
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: "VALIDATION_FAILED", details: { issues: [{ path: "query.format" }] } });
    const backwards = await api.call("GET", "/api/v1/audit/export?from=2030-01-01T00:00:00Z&to=2020-01-01T00:00:00Z");
    expect(backwards.statusCode).toBe(400);
    expect(backwards.json()).toMatchObject({ code: "AUDIT_QUERY_INVALID" });
  });
});

describe("api - audit disabled", () => {
  it("answers 503 AUDIT_DISABLED", async () => {
    const off = await makeApi({ audit: { enabled: false } });
    try {
      const res = await off.call("GET", "/api/v1/audit/events");
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ code: "AUDIT_DISABLED" });
    } finally {
      await off.close();
    }
  });
});
