import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeApi, type TestApi } from "../../test/helpers/api.js";
import { tier0Requirement } from "../../test/helpers/requirements.js";
import { AgentId } from "../core/ids.js";
import { parseAgentConfig } from "../core/schemas.js";
import { runCli } from "../../test/helpers/cli.js";

let api: TestApi;
let url: string;
let dir: string;
let alice: string;
let bob: string;

beforeAll(async () => {
  api = await makeApi();
  url = await api.app.listen({ host: "127.0.0.1", port: 0 });
  dir = api.runtime.config.data_dir;
  chmodSync(dir, 0o711);
  alice = (await api.call("POST", "/api/v1/agents", { name: "cli-alice" })).json().id as string;
  bob = (await api.call("POST", "/api/v1/agents", { name: "cli-bob" })).json().id as string;
});
afterAll(async () => {
  await api.close();
});

const cliAs = (key: string, ...args: string[]) => runCli(url, key, ...args);

const cli = (...args: string[]) => cliAs(api.admin.slice("Bearer ".length), ...args);

const tier0 = await tier0Requirement(async () => {
  const probe = await makeApi();
  chmodSync(probe.runtime.config.data_dir, 0o711);
  return { sandboxes: probe.runtime.sandboxes, shutdown: () => probe.close() };
});

describe("cli - audit", () => {
  it("audit query prints a table or JSON with filters, and the cursor to the next page", async () => {
    const res = await cli("audit", "query", "--agent", alice, "--type", "AgentCreated", "--type", "AgentStarted");
    expect(res.code, res.err).toBe(0);
    const lines = res.out.trim().split("\n");
    expect(lines[0]).toMatch(/^SEQ\s+TIMESTAMP\s+EVENT_TYPE\s+AGENT_ID\s+DETAILS$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/)[2]).sort()).toEqual(["AgentCreated", "AgentStarted"]);
    expect(lines.slice(1).every((l) => l.includes(alice))).toBe(true);

    const first = JSON.parse((await cli("audit", "query", "--limit", "1", "--order", "asc", "--json")).out) as { events: { seq: number }[]; next_cursor: string };
    expect(first.events.map((e) => e.seq)).toEqual([1]);
    const paged = await cli("audit", "query", "--limit", "1", "--order", "asc");
    expect(paged.err).toBe(`more records: --cursor ${first.next_cursor}\n`);
    const second = JSON.parse((await cli("audit", "query", "--limit", "1", "--order", "asc", "--cursor", first.next_cursor, "--json")).out) as { events: { seq: number }[] };
    expect(second.events.map((e) => e.seq)).toEqual([2]);

    const bad = await cli("audit", "query", "--type", "Nonsense");
    expect(bad.code).toBe(1);
    expect(bad.err).toContain("VALIDATION_FAILED");
  });

  it("audit export downloads a file over the API that audit verify accepts offline, with the served key", async () => {
    const keyFile = join(dir, "audit-public.pem");
    writeFileSync(keyFile, ((await api.call("GET", "/api/v1/audit/public-key")).json() as { public_key: string }).public_key);
    for (const format of ["json", "ndjson", "csv"]) {
      const file = join(dir, `cli-export.${format}`);
      const exported = await cli("audit", "export", "--format", format, "-o", file);
      expect(exported.code, exported.err).toBe(0);
      expect(exported.err).toMatch(new RegExp(`^wrote \\d+ bytes to ${file.replace(/[.]/g, "\\.")}\\n$`));
      expect(existsSync(`${file}.partial`)).toBe(false);
      const verified = await cli("audit", "verify", file, "--public-key", keyFile);
      expect(verified.code, verified.out + verified.err).toBe(0);
      expect(verified.out).toContain("result:       VALID");
      const report = JSON.parse((await cli("audit", "verify", file, "--json")).out) as { valid: boolean; format: string; records_checked: number };
      expect(report).toMatchObject({ valid: true, format });
      expect(report.records_checked).toBeGreaterThan(3);
    }

    const ndjson = join(dir, "cli-export.ndjson");
    writeFileSync(ndjson, readFileSync(ndjson, "utf8").replace(/"event_type":"AgentStarted"/, '"event_type":"AgentStopped"'));
    const broken = await cli("audit", "verify", ndjson);
    expect(broken.code).toBe(1);
    expect(broken.out).toContain("BROKEN at seq");
    expect(broken.err).toContain("AUDIT_INTEGRITY_VIOLATION");

    const toStdout = await cli("audit", "export", "--agent", bob);
    expect(toStdout.code).toBe(0);
    const lines = toStdout.out.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ type: "header", filtered: true });
    expect(lines.filter((l) => l.type === "record").every((l) => l.agent_id === bob)).toBe(true);

    const refused = await cli("audit", "export", "--format", "xml", "-o", join(dir, "nope.xml"));
    expect(refused.code).toBe(1);
    expect(refused.err).toContain("VALIDATION_FAILED");
    expect(existsSync(join(dir, "nope.xml"))).toBe(false);
    expect(existsSync(join(dir, "nope.xml.partial"))).toBe(false);
  });
});

describe("cli - policies", () => {
  it("create from YAML, list, show, evaluate, update from a .cedar file, delete", async () => {
    const yamlFile = join(dir, "quiet.yaml");
    writeFileSync(yamlFile, `id: quiet-bob\nname: quiet bob\npriority: 4\nrules:\n  - effect: deny\n    action: message.send\n    condition: resource == "${bob}"\n`);
    const created = await cli("policies", "create", "--file", yamlFile);
    expect(created.code, created.err).toBe(0);
    expect(created.out).toBe("quiet-bob\n");
    expect((await api.call("POST", `/api/v1/agents/${bob}/messages`, { sender: alice, payload: "x" })).json()).toMatchObject({ code: "POLICY_DENIED" });

    const list = await cli("policies", "list");
    expect(list.out).toMatch(/^ID\s+NAME\s+LANGUAGE\s+PRIORITY\s+ENABLED\s+RULES\n/);
    expect(list.out).toMatch(/quiet-bob\s+quiet bob\s+rules\s+4\s+true\s+1/);
    const shown = await cli("policies", "show", "quiet-bob");
    expect(shown.out).toMatch(/language\s+rules/);
    expect(shown.out).toMatch(/deny\s+message\.send\s+resource ==/);
    expect(JSON.parse((await cli("policies", "show", "quiet-bob", "--json")).out)).toMatchObject({ id: "quiet-bob", priority: 4 });

    const denied = await cli("policies", "evaluate", "--agent", alice, "--operation", "message.send", "--resource", bob);
    expect(denied.code).toBe(0);
    expect(denied.out.split("\n")[0]).toBe("denied (deny, policy quiet-bob)");
    expect(denied.out).toMatch(/quiet-bob\s+0\s+deny\s+message\.send/);
    const one = JSON.parse((await cli("policies", "evaluate", "quiet-bob", "--agent", alice, "--operation", "message.send", "--resource", alice, "--json")).out) as Record<string, unknown>;
    expect(one).toMatchObject({ decision: "not_applicable", matched_rules: [] });

    const cedarFile = join(dir, "quiet.cedar");
    writeFileSync(cedarFile, `forbid(principal, action == Symbiont::Action::"tool.call", resource);\n`);
    expect((await cli("policies", "update", "quiet-bob", "--file", cedarFile)).out).toBe("quiet-bob  updated\n");
    expect((await cli("policies", "show", "quiet-bob")).out).toContain('forbid(principal, action == Symbiont::Action::"tool.call", resource);');
    expect((await api.call("POST", `/api/v1/agents/${bob}/messages`, { sender: alice, payload: "x" })).statusCode).toBe(200);

    expect((await cli("policies", "delete", "quiet-bob")).out).toBe("quiet-bob  deleted\n");
    const gone = await cli("policies", "show", "quiet-bob");
    expect(gone.code).toBe(1);
    expect(gone.err).toContain("POLICY_NOT_FOUND");
    await api.call("GET", `/api/v1/agents/${bob}/messages`);
  });

  it("a malformed policy exits 1 with the engine's message and position; a non-admin key exits 1", async () => {
    const bad = join(dir, "bad.cedar");
    writeFileSync(bad, "permit(principal, action, resource) when { context.tierr >= 2 };\n");
    const res = await cli("policies", "create", "--file", bad, "--id", "bad");
    expect(res.code).toBe(1);
    expect(res.err).toMatch(/POLICY_INVALID: Policy bad is invalid: cedar at 1:\d+: .*tierr/);
    const plain = (await api.call("POST", "/api/v1/keys", { name: "cli-plain" })).json().key as string;
    const denied = await cliAs(plain, "policies", "list");
    expect(denied.code).toBe(1);
    expect(denied.err).toContain("ADMIN_REQUIRED");
  });
});

describe("cli - dead letters and sandboxes", () => {
  it("dead-letters list, replay and delete", async () => {
    const ghost = AgentId.new();
    for (const payload of ["one", "two"]) await api.call("POST", `/api/v1/agents/${ghost}/messages`, { sender: alice, payload });
    const list = await cli("dead-letters", "list", "--agent", ghost);
    expect(list.code, list.err).toBe(0);
    const rows = list.out.trim().split("\n");
    expect(rows[0]).toMatch(/^ID\s+CODE\s+FROM\s+TO\s+TOPIC\s+ATTEMPTS\s+REPLAYABLE\s+DEAD_AT\s+REASON$/);
    expect(rows.slice(1).every((r) => /AGENT_NOT_REGISTERED\s+\S+\s+\S+\s+direct\s+0\s+true/.test(r))).toBe(true);
    const letters = (JSON.parse((await cli("dead-letters", "list", "--agent", ghost, "--json")).out) as { dead_letters: { id: string }[] }).dead_letters;
    expect(letters).toHaveLength(2);
    const paged = await cli("dead-letters", "list", "--agent", ghost, "--limit", "1");
    expect(paged.err).toMatch(/^more: --cursor \S+\n$/);

    await api.runtime.lifecycle.initializeAgent((await api.runtime.lifecycle.createAgent(parseAgentConfig({ id: ghost, name: "cli-ghost" }))).id);
    const replayed = await cli("dead-letters", "replay", letters[0]!.id);
    expect(replayed.code, replayed.err).toBe(0);
    expect(replayed.out).toMatch(new RegExp(`^${letters[0]!.id}  replayed as [0-9a-f-]{36}\\n$`));
    expect(((await api.call("GET", `/api/v1/agents/${ghost}/messages`)).json() as { messages: { payload: string }[] }).messages.map((m) => m.payload)).toEqual(["one"]);
    expect((await cli("dead-letters", "delete", letters[1]!.id)).out).toBe(`${letters[1]!.id}  deleted\n`);
    expect(JSON.parse((await cli("dead-letters", "list", "--agent", ghost, "--json")).out)).toEqual({ dead_letters: [], next_cursor: null });
    const missing = await cli("dead-letters", "replay", letters[1]!.id);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain("MESSAGE_NOT_FOUND");
  });

  it.skipIf(!tier0.available)("sandboxes list and show", async () => {
    const id = await api.runtime.sandboxes.createSandbox({
      agent_id: alice as AgentId,
      security_tier: "Tier0",
      resource_limits: { memory_mb: 64, cpu_cores: 1, disk_io_mbps: 100, network_io_mbps: 10, execution_timeout: 15_000, idle_timeout: 60_000 },
      network_config: { enabled: false },
      filesystem_config: { mounts: [] },
      environment_variables: {},
    });
    const list = await cli("sandboxes", "list", "--usage");
    expect(list.code, list.err).toBe(0);
    expect(list.out).toMatch(/^ID\s+AGENT_ID\s+TIER\s+BACKEND\s+STATE\s+CREATED_AT\s+MEMORY_MB\s+CPU_TIME_MS\s+PIDS\n/);
    expect(list.out).toMatch(new RegExp(`${id}\\s+${alice}\\s+Tier0\\s+process\\s+Created\\s+\\S+\\s+[\\d.]+\\s+[\\d.]+\\s+\\d+`));
    const shown = await cli("sandboxes", "show", id);
    expect(shown.out).toMatch(/backend\s+process/);
    expect(shown.out).toMatch(/memory_limit_bytes\s+67108864/);
    expect(JSON.parse((await cli("sandboxes", "list", "--agent", bob, "--json")).out)).toEqual({ sandboxes: [], next_cursor: null });
    await api.runtime.sandboxes.destroySandbox(id);
  });
});
