/**
 * Audit trail costs, each against a reference measured in the same run (wall time, plus CPU time and the
 * load average, since the machine running it is usually shared):
 * - durable appends/s through the trail on SQLite (synchronous=FULL, batched), against raw better-sqlite3
 *   inserts of the same rows in the same batch size with no hashing, signing or indexes, and against raw
 *   inserts into the audit schema itself (same indexes and metadata rows: what the trail adds on top of SQL);
 * - the same on PostgreSQL (when TEST_POSTGRES_URL / the local server answers), against raw unnest inserts;
 * - verify 1M records (target < 3 s), against a plain scan of the same rows;
 * - query by agent over 1M records (p50), against a primary-key lookup.
 *
 * Run: `npm run bench -- audit` (needs ~1 GB of free disk in the temp dir).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { randomBytes, randomUUID } from "node:crypto";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { SystemClock } from "../../src/core/clock.js";
import { AgentId } from "../../src/core/ids.js";
import { silentLogger } from "../../src/core/logger.js";
import { generateSigner } from "../../src/audit/signing.js";
import { createAuditStore, DefaultAuditTrail, type AuditStore } from "../../src/audit/index.js";
import { percentile, round, timeMs, type Metric } from "../lib.js";

const BATCH = 2000;
const TOTAL = 1_000_000;
const APPEND_SAMPLE = 200_000;
const PG_SAMPLE = 50_000;
const AGENTS = Array.from({ length: 1000 }, () => AgentId.new());
const pgUrl = process.env.TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";

function trailOn(store: AuditStore): DefaultAuditTrail {
  return new DefaultAuditTrail({
    store,
    signer: generateSigner(),
    clock: new SystemClock(),
    logger: silentLogger(),
    ownsStore: false,
    options: { max_batch_records: BATCH, checkpoint_every_records: 10_000 },
  });
}

/** Wall and CPU (user + system) milliseconds taken by `fn`. */
async function timed(fn: () => Promise<void>): Promise<{ ms: number; cpuMs: number }> {
  const cpu = process.cpuUsage();
  const ms = await timeMs(fn);
  const used = process.cpuUsage(cpu);
  return { ms, cpuMs: (used.user + used.system) / 1000 };
}

/** Appends `n` records keeping up to `inFlight` unacknowledged; returns records per wall and per CPU second. */
async function appendRate(trail: DefaultAuditTrail, n: number, offset: number, inFlight = 10_000): Promise<{ wall: number; cpu: number }> {
  const { ms, cpuMs } = await timed(async () => {
    for (let done = 0; done < n; done += inFlight) {
      const size = Math.min(inFlight, n - done);
      await Promise.all(
        Array.from({ length: size }, (_, i) => {
          const k = offset + done + i;
          return trail.recordEvent({
            event_type: k % 3 ? "MessageSent" : "ResourceAllocated",
            agent_id: AGENTS[k % AGENTS.length] as AgentId,
            details: `bench event ${k}`,
            metadata: { event: "bench", shard: String(k % 16) },
          });
        }),
      );
    }
  });
  return { wall: (n * 1000) / ms, cpu: (n * 1000) / cpuMs };
}

/** Ids shaped like the trail's (UUIDv7, time-ordered) so index costs compare. */
function v7(): string {
  const t = Date.now().toString(16).padStart(12, "0");
  return `${t.slice(0, 8)}-${t.slice(8, 12)}-7${randomUUID().slice(15)}`;
}

function rawRow(k: number): (string | number)[] {
  return [k, v7(), Date.now(), "MessageSent", AGENTS[k % AGENTS.length] as string, `bench event ${k}`, '[["event","bench"]]', "0".repeat(64), "f".repeat(64)];
}

/** Raw inserts into a freshly migrated audit database: the SQL cost of the trail's schema, without the trail. */
async function sameSchemaRate(dir: string, n: number): Promise<number> {
  const path = join(dir, "same-schema.db");
  await (await createAuditStore({ kind: "sqlite", path })).close();
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  const ins = db.prepare("INSERT INTO audit_events (seq, id, ts, event_type, agent_id, details, metadata, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
  const meta = db.prepare("INSERT INTO audit_metadata (key, value, seq) VALUES (?, ?, ?)");
  const tx = db.transaction((rows: (string | number)[][]) => {
    for (const r of rows) {
      ins.run(...r);
      meta.run("event", "bench", r[0] as number);
      meta.run("shard", String((r[0] as number) % 16), r[0] as number);
    }
  });
  const start = performance.now();
  for (let done = 0; done < n; done += BATCH) tx.immediate(Array.from({ length: Math.min(BATCH, n - done) }, (_, i) => rawRow(done + i + 1)));
  const ms = performance.now() - start;
  db.close();
  return (n * 1000) / ms;
}

function rawSqliteRate(dir: string, n: number): number {
  const db = new Database(join(dir, "raw.db"));
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.exec("CREATE TABLE t (seq INTEGER PRIMARY KEY, id TEXT, ts INTEGER, type TEXT, agent TEXT, details TEXT, metadata TEXT, prev TEXT, hash TEXT)");
  const ins = db.prepare("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
  const tx = db.transaction((rows: (string | number)[][]) => {
    for (const r of rows) ins.run(...r);
  });
  const start = performance.now();
  for (let done = 0; done < n; done += BATCH) tx.immediate(Array.from({ length: Math.min(BATCH, n - done) }, (_, i) => rawRow(done + i + 1)));
  const ms = performance.now() - start;
  db.close();
  return (n * 1000) / ms;
}

async function rawPgRate(schema: string, n: number): Promise<number> {
  const c = new pg.Client({ connectionString: pgUrl });
  await c.connect();
  try {
    await c.query(`CREATE TABLE ${schema}.raw (seq BIGINT PRIMARY KEY, id UUID, ts BIGINT, type TEXT, agent UUID, details TEXT, metadata JSONB, prev TEXT, hash TEXT)`);
    const start = performance.now();
    for (let done = 0; done < n; done += BATCH) {
      const rows = Array.from({ length: Math.min(BATCH, n - done) }, (_, i) => rawRow(done + i + 1));
      const cols = rows[0]?.map((_, j) => rows.map((r) => r[j])) ?? [];
      await c.query(
        `INSERT INTO ${schema}.raw SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::bigint[], $4::text[], $5::uuid[], $6::text[], $7::jsonb[], $8::text[], $9::text[])`,
        cols,
      );
    }
    return (n * 1000) / (performance.now() - start);
  } finally {
    await c.end();
  }
}

async function postgresMetrics(): Promise<Metric[]> {
  const schema = `symbiont_bench_audit_${randomBytes(4).toString("hex")}`;
  let store: AuditStore;
  try {
    store = await createAuditStore({ kind: "postgres", url: pgUrl, schema });
  } catch (err) {
    console.warn(`[skip] postgres audit bench: ${(err as Error).message}`);
    return [];
  }
  try {
    const trail = trailOn(store);
    const rate = await appendRate(trail, PG_SAMPLE, 0);
    await trail.close();
    const raw = await rawPgRate(schema, PG_SAMPLE);
    return [
      { name: "postgres_durable_appends", value: round(rate.wall, 0), unit: "records/s" },
      { name: "postgres_durable_appends_per_cpu_s", value: round(rate.cpu, 0), unit: "records/cpu-s" },
      { name: "postgres_appends_vs_raw_insert", value: round(rate.wall, 0), unit: "records/s", baseline: round(raw, 0), ratio: round(rate.wall / raw, 2) },
    ];
  } finally {
    await store.close();
    const c = new pg.Client({ connectionString: pgUrl });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
  }
}

const load = (): number => round(loadavg()[0] as number, 2);

export async function run(): Promise<Metric[]> {
  const metrics: Metric[] = [{ name: "load_average_1m_at_start", value: load(), unit: "runnable" }];
  const dir = mkdtempSync(join(tmpdir(), "symbiont-bench-audit-"));
  try {
    const store = await createAuditStore({ kind: "sqlite", path: join(dir, "audit.db") });
    const trail = trailOn(store);
    const rate = await appendRate(trail, APPEND_SAMPLE, 0);
    const raw = rawSqliteRate(dir, APPEND_SAMPLE);
    const same = await sameSchemaRate(dir, APPEND_SAMPLE);
    metrics.push({ name: "sqlite_durable_appends", value: round(rate.wall, 0), unit: "records/s", target: ">= 50000" });
    metrics.push({ name: "sqlite_durable_appends_per_cpu_s", value: round(rate.cpu, 0), unit: "records/cpu-s" });
    metrics.push({ name: "sqlite_appends_vs_raw_insert", value: round(rate.wall, 0), unit: "records/s", baseline: round(raw, 0), ratio: round(rate.wall / raw, 2) });
    metrics.push({ name: "sqlite_appends_vs_same_schema_insert", value: round(rate.wall, 0), unit: "records/s", baseline: round(same, 0), ratio: round(rate.wall / same, 2) });
    metrics.push({ name: "load_average_1m_after_appends", value: load(), unit: "runnable" });

    await appendRate(trail, TOTAL - APPEND_SAMPLE, APPEND_SAMPLE);
    await trail.checkpoint();

    let report;
    const verify = await timed(async () => {
      report = await trail.verifySequence();
    });
    if (!report || !(report as { valid: boolean }).valid) throw new Error(`bench chain did not verify: ${JSON.stringify(report)}`);
    let rows = 0;
    const scan = await timed(async () => {
      for await (const chunk of store.scan(1, TOTAL)) rows += chunk.length;
    });
    metrics.push({ name: "verify_1m_records", value: round(verify.ms, 0), unit: "ms", target: "< 3000" });
    metrics.push({ name: "verify_1m_records_cpu", value: round(verify.cpuMs, 0), unit: "cpu-ms" });
    metrics.push({ name: "verify_1m_vs_plain_scan", value: round(verify.ms, 0), unit: "ms", baseline: round(scan.ms, 0), ratio: round(verify.ms / scan.ms, 2) });
    metrics.push({ name: "verify_1m_vs_plain_scan_cpu", value: round(verify.cpuMs, 0), unit: "cpu-ms", baseline: round(scan.cpuMs, 0), ratio: round(verify.cpuMs / scan.cpuMs, 2) });
    metrics.push({ name: "load_average_1m_after_verify", value: load(), unit: "runnable" });

    const byAgent: number[] = [];
    const byKey: number[] = [];
    for (let i = 0; i < 300; i++) {
      const agent_id = AGENTS[(i * 7919) % AGENTS.length] as AgentId;
      byAgent.push(await timeMs(async () => void (await trail.queryEvents({ agent_id, limit: 100, order: "desc" }))));
      const seq = 1 + ((i * 104_729) % rows);
      byKey.push(await timeMs(async () => void (await store.getBySeq(seq))));
    }
    byAgent.sort((a, b) => a - b);
    byKey.sort((a, b) => a - b);
    const p50 = percentile(byAgent, 50);
    metrics.push({ name: "query_by_agent_1m_p50", value: round(p50, 3), unit: "ms", target: "< 50" });
    metrics.push({ name: "query_by_agent_vs_pk_lookup_p50", value: round(p50, 3), unit: "ms", baseline: round(percentile(byKey, 50), 3), ratio: round(p50 / percentile(byKey, 50), 2) });
    await trail.close();
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  metrics.push(...(await postgresMetrics()));
  return metrics;
}
