import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { ManualClock } from "../core/clock.js";
import { resolveConfig } from "../core/config/index.js";
import { RuntimeEvents, type RuntimeEvent } from "../core/events.js";
import { AuditId as AuditIdFactory, type AgentId, type AuditId } from "../core/ids.js";
import { createLogger, silentLogger } from "../core/logger.js";
import { auditPublicKey } from "../cli/audit.js";
import { createRuntime } from "../runtime.js";
import { agentConfig } from "../../test/helpers/runtime.js";
import { sqliteTrail, type TrailFixture } from "../../test/helpers/audit.js";
import { auditStoreSpec, createAuditStore, createAuditTrail, verifyExportFile } from "./index.js";
import { loadOrCreateKeyFile } from "./signing.js";
import type { AppendPlan, AuditStore, ChainHead } from "./types.js";

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "symbiont-audit-trail-"));
  dirs.push(d);
  return d;
}

let fx: TrailFixture | undefined;
afterEach(async () => {
  await fx?.dispose();
  fx = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("audit trail - recording", () => {
  it("record - bad input is rejected with a typed error and nothing is written", async () => {
    fx = await sqliteTrail();
    const t = fx.trail;
    await expect(t.recordEvent({ event_type: "Bogus" as never, details: "x" })).rejects.toMatchObject({ code: "AUDIT_QUERY_INVALID" });
    await expect(t.recordEvent({ event_type: "AgentCreated", details: 5 as never })).rejects.toMatchObject({ code: "AUDIT_QUERY_INVALID" });
    await expect(t.recordEvent({ event_type: "AgentCreated", details: "x", metadata: { n: 1 as never } })).rejects.toMatchObject({ code: "AUDIT_QUERY_INVALID" });
    await expect(t.recordEvent({ event_type: "AgentCreated", details: "x", agent_id: "nope" as AgentId })).rejects.toMatchObject({ code: "VALIDATION_FAILED" });
    await expect(t.recordEvent({ event_type: "AgentCreated", details: "x", timestamp: -1 })).rejects.toMatchObject({ code: "AUDIT_QUERY_INVALID" });
    // A lone surrogate cannot be stored as UTF-8, so the stored record could never match its hash.
    await expect(t.recordEvent({ event_type: "AgentCreated", details: "x\ud800" })).rejects.toMatchObject({ code: "AUDIT_QUERY_INVALID" });
    await expect(t.recordEvent({ event_type: "AgentCreated", details: "x", metadata: { k: "\udc00" } })).rejects.toMatchObject({ code: "AUDIT_QUERY_INVALID" });
    await expect(t.recordEvent({ event_type: "AgentCreated", details: "x", metadata: { "\ud800": "v" } })).rejects.toMatchObject({ code: "AUDIT_QUERY_INVALID" });
    expect((await fx.store.head()).seq).toBe(0);
    await t.recordEvent({ event_type: "AgentCreated", details: "a pair is fine: 😀" });
    expect((await t.verifySequence()).valid).toBe(true);
  });

  it("record - minted ids are UUIDv7, ordered by time", async () => {
    fx = await sqliteTrail();
    const a = await fx.trail.recordEvent({ event_type: "AgentCreated", details: "a" });
    await fx.clock.advance(5);
    const b = await fx.trail.recordEvent({ event_type: "AgentCreated", details: "b" });
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(AuditIdFactory.is(b)).toBe(true);
    expect(a < b).toBe(true);
    expect(parseInt(a.replace(/-/g, "").slice(0, 12), 16)).toBe(fx.clock.now() - 5);
  });

  it("record - a caller-supplied id and timestamp are kept (ids normalised to lower case)", async () => {
    fx = await sqliteTrail();
    const id = "AAAAAAAA-AAAA-4AAA-8AAA-AAAAAAAAAAAA" as AuditId;
    const got = await fx.trail.recordEvent({ id, timestamp: 1234, event_type: "SecurityEvent", details: "x" });
    expect(got).toBe(id.toLowerCase());
    expect(await fx.trail.getEvent(got)).toMatchObject({ timestamp: 1234, event_type: "SecurityEvent" });
  });

  it("record - a batch the store cannot commit is rejected as a whole, reported, and leaves the chain intact", async () => {
    const events = new RuntimeEvents(new ManualClock(), silentLogger());
    const failures: RuntimeEvent[] = [];
    events.on("audit.write_failed", (e) => failures.push(e));
    fx = await sqliteTrail({}, { events });
    const real = fx.store;
    let failNext = false;
    const append = async (build: (h: ChainHead) => AppendPlan): Promise<AppendPlan> => {
      if (!failNext) return real.append(build);
      failNext = false;
      return real.append(() => {
        throw new Error("disk full");
      });
    };
    const flaky = new Proxy(real, {
      get(target, prop) {
        if (prop === "append") return append;
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === "function" ? v.bind(target) : v;
      },
    }) as AuditStore;
    const { DefaultAuditTrail } = await import("./trail.js");
    const trail = new DefaultAuditTrail({ store: flaky, signer: fx.signer, clock: fx.clock, logger: silentLogger(), events, ownsStore: false });
    await trail.recordEvent({ event_type: "AgentCreated", details: "before" });
    failNext = true;
    const lost = await Promise.allSettled([1, 2, 3].map((i) => trail.recordEvent({ event_type: "AgentCreated", details: `in failed batch ${i}` })));
    expect(lost.map((r) => r.status)).toEqual(["rejected", "rejected", "rejected"]);
    expect((lost[0] as PromiseRejectedResult).reason).toMatchObject({ code: "AUDIT_WRITE_FAILED" });
    expect(failures).toMatchObject([{ type: "audit.write_failed", records: 3 }]);
    await trail.recordEvent({ event_type: "AgentCreated", details: "after" });
    const report = await trail.verifySequence();
    expect(report).toMatchObject({ valid: true, records_checked: 2 });
    await trail.close();
  });

  it("close - flushes what was accepted, signs the head, then refuses new records", async () => {
    fx = await sqliteTrail({ checkpoint_every_records: 1000 });
    const pending = [1, 2, 3].map((i) => fx?.trail.recordEvent({ event_type: "MessageSent", details: `m${i}` }));
    await fx.trail.close();
    await Promise.all(pending);
    await expect(fx.trail.recordEvent({ event_type: "MessageSent", details: "late" })).rejects.toMatchObject({ code: "AUDIT_TRAIL_CLOSED" });
    const { SqliteAuditStore } = await import("./sqlite-audit-store.js");
    const store = await SqliteAuditStore.open({ path: join(fx.dir, "audit.db") });
    expect((await store.checkpoints(0, 10)).map((c) => c.seq)).toEqual([3]);
    await store.close();
    await fx.trail.close(); // idempotent
  });
});

describe("audit trail - signing key", () => {
  it("key - created on first start with mode 0600 and reused after", () => {
    const file = join(tempDir(), "audit", "signing-key.pem");
    const a = loadOrCreateKeyFile(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(loadOrCreateKeyFile(file).keyId).toBe(a.keyId);
  });

  it("key - `symbiont audit public-key` prints the public half of the data dir's key", async () => {
    const dir = tempDir();
    const signer = loadOrCreateKeyFile(join(dir, "audit", "signing-key.pem"));
    let out = "";
    await auditPublicKey({ dataDir: dir }, new Writable({ write: (c: Buffer, _e, cb) => ((out += c.toString()), cb()) }));
    expect(out).toBe(signer.publicKeyPem);
    expect(out).toContain("BEGIN PUBLIC KEY");
  });

  it("key - a key file readable by others is refused with AUDIT_SIGNING_KEY_INVALID", () => {
    const file = join(tempDir(), "k.pem");
    loadOrCreateKeyFile(file);
    chmodSync(file, 0o644);
    expect(() => loadOrCreateKeyFile(file)).toThrow(expect.objectContaining({ code: "AUDIT_SIGNING_KEY_INVALID" }));
  });

  it("key - a key from config is used, and never reaches the log", async () => {
    const { generateKeyPairSync } = await import("node:crypto");
    const pem = generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    let logged = "";
    const logger = createLogger({ level: "trace", destination: new Writable({ write: (c: Buffer, _e, cb) => ((logged += c.toString()), cb()) }) });
    const dir = tempDir();
    const config = resolveConfig({ data_dir: dir, audit: { signing_key: pem } });
    const trail = await createAuditTrail({ config, clock: new ManualClock(), logger });
    logger.info({ config }, "config as someone might log it");
    await trail.recordEvent({ event_type: "AgentCreated", details: "x" });
    await trail.close();
    expect(readdirSync(join(dir, "audit"))).not.toContain("signing-key.pem");
    const body = pem.split("\n")[1] as string;
    expect(logged).not.toContain(body);
    expect(logged).toContain("[redacted]");
  });
});

describe("audit trail - retention", () => {
  it("retention - archives before pruning; the archive and the remainder both verify", async () => {
    const dir = tempDir();
    fx = await sqliteTrail({ checkpoint_every_records: 10, retention: { max_records: 15, interval_ms: 60_000, archive_dir: join(dir, "archive") } });
    for (let i = 0; i < 42; i++) await fx.trail.recordEvent({ event_type: "RuntimeEvent", details: `r${i}` });
    const pruned = await fx.trail.applyRetention();
    // Cut at the newest checkpoint at or before seq 42 - 15 = 27: seq 20.
    expect(pruned).toBe(20);
    const [archive] = await fx.store.archives();
    expect(archive).toMatchObject({ from_seq: 1, to_seq: 20 });
    expect(await verifyExportFile(archive?.location as string, { publicKeyPem: fx.trail.publicKeyPem })).toMatchObject({
      valid: true,
      from_seq: 1,
      to_seq: 20,
    });
    expect(await fx.store.firstSeq()).toBe(21);
    const rest = await fx.trail.verifySequence();
    expect(rest).toMatchObject({ valid: true, from_seq: 21 });
    const [note] = await fx.trail.queryEvents({ event_types: ["AuditArchived"] });
    expect(note?.metadata).toMatchObject({ from_seq: "1", to_seq: "20" });

    // A second round anchors on the first archive's checkpoint, and tampering with the remainder still shows.
    for (let i = 0; i < 30; i++) await fx.trail.recordEvent({ event_type: "RuntimeEvent", details: `s${i}` });
    expect(await fx.trail.applyRetention()).toBeGreaterThan(0);
    const archives = await fx.store.archives();
    expect(await verifyExportFile(archives[1]?.location as string, { publicKeyPem: fx.trail.publicKeyPem })).toMatchObject({ valid: true });
    expect((await fx.trail.verifySequence()).valid).toBe(true);
  });

  it("retention - by age prunes only records older than max_age_ms", async () => {
    const dir = tempDir();
    fx = await sqliteTrail({ checkpoint_every_records: 5, retention: { max_age_ms: 1000, interval_ms: 60_000, archive_dir: join(dir, "a") } });
    for (let i = 0; i < 10; i++) await fx.trail.recordEvent({ event_type: "RuntimeEvent", details: `old${i}` });
    await fx.clock.advance(5000);
    for (let i = 0; i < 3; i++) await fx.trail.recordEvent({ event_type: "RuntimeEvent", details: `new${i}` });
    expect(await fx.trail.applyRetention()).toBe(10);
    const left = await fx.trail.queryEvents({ event_types: ["RuntimeEvent"] });
    expect(left.map((r) => r.details)).toEqual(["new0", "new1", "new2"]);
    expect((await fx.trail.verifySequence()).valid).toBe(true);
  });
});

describe("audit trail - configuration", () => {
  it("config - the store follows store.kind unless audit.store names one; paths resolve under data_dir", () => {
    const sqlite = auditStoreSpec(resolveConfig({ data_dir: "/srv/sym" }));
    expect(sqlite).toEqual({ kind: "sqlite", path: "/srv/sym/audit/audit.db" });
    const inherited = auditStoreSpec(resolveConfig({ store: { kind: "postgres", postgres_url: "postgres://db/x" } }));
    expect(inherited).toEqual({ kind: "postgres", url: "postgres://db/x", schema: "public" });
    const own = auditStoreSpec(
      resolveConfig({ store: { kind: "postgres", postgres_url: "postgres://db/x" }, audit: { store: "sqlite", sqlite_path: "/tmp/a.db" } }),
    );
    expect(own).toEqual({ kind: "sqlite", path: "/tmp/a.db" });
  });

  it("config - bad audit settings name the field", () => {
    expect(() => resolveConfig({ audit: { retention: { interval_ms: 5 } } })).toThrow(/audit\.retention: retention needs max_age_ms or max_records/);
    expect(() => resolveConfig({ audit: { signing_key: "a", signing_key_file: "b" } })).toThrow(/signing_key or signing_key_file/);
    expect(() => resolveConfig({ audit: { postgres_schema: "Robert'); DROP" } })).toThrow(/audit\.postgres_schema/);
    expect(() => resolveConfig({ audit: { checkpoint_every_records: 0 } })).toThrow(/audit\.checkpoint_every_records/);
  });

  it("config - postgres without a URL fails with AUDIT_STORE_UNAVAILABLE naming the settings", async () => {
    await expect(createAuditStore(auditStoreSpec(resolveConfig({ audit: { store: "postgres" } })))).rejects.toMatchObject({
      code: "AUDIT_STORE_UNAVAILABLE",
      message: expect.stringContaining("postgres_url"),
    });
  });
});

describe("audit trail - in the runtime", () => {
  it("runtime - runtime.audit records the agent lifecycle and shutdown flushes it", async () => {
    const dir = tempDir();
    const runtime = await createRuntime({ config: { data_dir: dir, log_level: "silent" }, logger: silentLogger() });
    expect(runtime.audit).toBeDefined();
    const agent = await runtime.lifecycle.createAgent(agentConfig());
    await runtime.lifecycle.initializeAgent(agent.id);
    await runtime.lifecycle.startAgent(agent.id);
    await runtime.lifecycle.terminateAgent(agent.id);
    const keyId = runtime.audit?.keyId;
    await runtime.shutdown();

    const again = await createRuntime({ config: { data_dir: dir, log_level: "silent" }, logger: silentLogger() });
    try {
      const audit = again.audit;
      expect(audit?.keyId).toBe(keyId);
      // Components without a dedicated audit type (bus registration, ...) are kept as RuntimeEvent records.
      const types = (await audit?.queryEvents({ agent_id: agent.id }))
        ?.map((r) => r.event_type)
        .filter((t) => t !== "RuntimeEvent");
      // Terminating -> Terminated, then the removal: both are AgentTerminated, told apart by metadata.event.
      expect(types).toEqual([
        "AgentCreated",
        "AgentStateChanged",
        "AgentStateChanged",
        "AgentStarted",
        "AgentStateChanged",
        "AgentTerminated",
        "AgentTerminated",
      ]);
      const started = await audit?.queryEvents({ metadata: { event: "runtime.started" } });
      expect(started?.length).toBe(2);
      expect((await audit?.verifyIntegrity())?.valid).toBe(true);
    } finally {
      await again.shutdown();
    }
  });

  it("runtime - audit.enabled=false builds no trail", async () => {
    const runtime = await createRuntime({ config: { data_dir: tempDir(), audit: { enabled: false } }, logger: silentLogger() });
    expect(runtime.audit).toBeUndefined();
    await runtime.shutdown();
  });
});
