/**
 * PostgresAuditStore: for deployments where several runtimes share one audit trail. Every append is one
 * transaction that first takes a transaction-scoped advisory lock for the chain, then reads the head and
 * inserts the batch with `unnest` arrays (one statement per table), so concurrent writers never fork the
 * chain; `append` resolves after COMMIT. The store owns its pg pool. Migrations are numbered, run at open
 * under a session advisory lock, and every table lives in the configured schema.
 *
 * From schema 2 the metadata column is text holding the canonical pairs JSON the hash covers
 * (`metadataJson`, chain.ts), so `scanChain` has the server assemble each record's canonical text. Rows
 * written under schema 1 hold a metadata object; they stay readable and are verified from their fields.
 */
import pg from "pg";
import { AuditError } from "../core/errors.js";
import type { AgentId, AuditId } from "../core/ids.js";
import { canonicalJson, GENESIS_HASH } from "./chain.js";
import { likePattern } from "./query.js";
import type {
  AppendPlan,
  ArchiveEntry,
  AuditEventType,
  AuditRecord,
  AuditStore,
  ChainEntry,
  ChainHead,
  Checkpoint,
  ResolvedAuditQuery,
} from "./types.js";

const SCAN_CHUNK = 10_000;

const MIGRATIONS: readonly { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: "chain, checkpoints, metadata index, archives",
    sql: `
      CREATE TABLE audit_events (
        seq BIGINT PRIMARY KEY,
        id UUID NOT NULL UNIQUE,
        ts BIGINT NOT NULL,
        event_type TEXT NOT NULL,
        agent_id UUID,
        details TEXT NOT NULL,
        metadata JSONB NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
      );
      CREATE INDEX audit_events_ts ON audit_events (ts, seq);
      CREATE INDEX audit_events_agent ON audit_events (agent_id, seq) WHERE agent_id IS NOT NULL;
      CREATE INDEX audit_events_type ON audit_events (event_type, seq);
      CREATE TABLE audit_metadata (key TEXT NOT NULL, value TEXT NOT NULL, seq BIGINT NOT NULL, PRIMARY KEY (key, value, seq));
      CREATE INDEX audit_metadata_seq ON audit_metadata (seq);
      CREATE TABLE audit_checkpoints (seq BIGINT PRIMARY KEY, hash TEXT NOT NULL, ts BIGINT NOT NULL, key_id TEXT NOT NULL, signature TEXT NOT NULL);
      CREATE TABLE audit_archives (to_seq BIGINT PRIMARY KEY, from_seq BIGINT NOT NULL, to_hash TEXT NOT NULL, location TEXT NOT NULL, archived_at BIGINT NOT NULL);`,
  },
  {
    // jsonb reorders and respaces what it stores; the canonical bytes need the text kept verbatim.
    version: 2,
    name: "metadata column holds canonical pairs JSON as text",
    sql: "ALTER TABLE audit_events ALTER COLUMN metadata TYPE TEXT USING metadata::text",
  },
];

/** Numbers come back as float8 (exact below 2^53) so rows need no string-to-number pass. */
const COLUMNS = "seq::float8 AS seq, id::text AS id, ts::float8 AS ts, event_type, agent_id::text AS agent_id, details, metadata, prev_hash, hash";

interface Row {
  seq: number;
  id: string;
  ts: number;
  event_type: string;
  agent_id: string | null;
  details: string;
  metadata: string;
  prev_hash: string;
  hash: string;
}

/**
 * A row's canonical text, built by the server: `to_json` escapes text exactly as `JSON.stringify` does, and
 * the metadata column already is canonical. NULL for schema-1 rows, whose metadata is an object.
 */
const CANONICAL_SQL = `CASE WHEN left(metadata, 1) = '[' THEN '[1,' || seq || ',' || to_json(id::text) || ',' || ts || ',' ||
  to_json(event_type) || ',' || coalesce(to_json(agent_id::text)::text, 'null') || ',' || to_json(details) || ',' || metadata || ']' END`;

/** Metadata from its column: canonical pairs (schema 2) or an object (rows written under schema 1). */
function parseMetadata(text: string): Record<string, string> {
  const parsed = JSON.parse(text) as [string, string][] | Record<string, string>;
  return Array.isArray(parsed) ? Object.fromEntries(parsed) : parsed;
}

function toRecord(r: Row): AuditRecord {
  return {
    seq: r.seq,
    id: r.id as AuditId,
    timestamp: r.ts,
    event_type: r.event_type as AuditEventType,
    agent_id: r.agent_id as AgentId | null,
    details: r.details,
    metadata: parseMetadata(r.metadata),
    prev_hash: r.prev_hash,
    hash: r.hash,
  };
}

export interface PostgresAuditStoreOptions {
  readonly url: string;
  /** Schema holding the tables; created when missing. */
  readonly schema?: string;
  /** Pool size; default 4. */
  readonly max_connections?: number;
}

const IDENT_RE = /^[a-z_][a-z0-9_]{0,62}$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Connection-level failures (the server is down or went away) as opposed to a bad statement. */
function isUnavailable(err: unknown): boolean {
  const code = (err as { code?: string }).code ?? "";
  return ["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "ETIMEDOUT", "EPIPE"].includes(code) || /^(08|57P)/.test(code);
}

function pgError(err: unknown, what: string): AuditError {
  if (err instanceof AuditError) return err;
  const code = (err as { code?: string }).code ?? "";
  return new AuditError(isUnavailable(err) ? "AUDIT_STORE_UNAVAILABLE" : "AUDIT_WRITE_FAILED", `${what}: ${(err as Error).message}`, {
    cause: err,
    details: { code },
  });
}

export class PostgresAuditStore implements AuditStore {
  readonly kind = "postgres" as const;
  readonly #pool: pg.Pool;
  readonly #schema: string;
  /** Advisory lock key for this chain, derived from the schema name. */
  readonly #lockKey: string;
  #closed = false;

  private constructor(pool: pg.Pool, schema: string) {
    this.#pool = pool;
    this.#schema = schema;
    this.#lockKey = `symbiont_audit:${schema}`;
  }

  static async open(options: PostgresAuditStoreOptions): Promise<PostgresAuditStore> {
    const schema = options.schema ?? "public";
    if (!IDENT_RE.test(schema)) {
      throw new AuditError("AUDIT_STORE_UNAVAILABLE", `Invalid audit schema name ${JSON.stringify(schema)}`, { details: { schema } });
    }
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.max_connections ?? 4,
      // Every connection sees the audit tables unqualified.
      options: `-c search_path=${schema}`,
    });
    pool.on("error", () => {
      // An idle client lost its connection; the next query reports it as AUDIT_STORE_UNAVAILABLE.
    });
    const store = new PostgresAuditStore(pool, schema);
    try {
      await store.#migrate();
    } catch (err) {
      await pool.end().catch(() => undefined);
      if (err instanceof AuditError) throw err;
      if (isUnavailable(err)) {
        throw new AuditError("AUDIT_STORE_UNAVAILABLE", `Cannot reach the audit database: ${(err as Error).message}`, { cause: err });
      }
      throw new AuditError("AUDIT_MIGRATION_FAILED", `Audit database migration failed: ${(err as Error).message}`, { cause: err });
    }
    return store;
  }

  async #migrate(): Promise<void> {
    const client = await this.#pool.connect();
    try {
      await client.query("SELECT pg_advisory_lock(hashtext($1))", [`${this.#lockKey}:migrate`]);
      try {
        await client.query(`CREATE SCHEMA IF NOT EXISTS ${this.#schema}`);
        await client.query(
          "CREATE TABLE IF NOT EXISTS audit_migrations (version INT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        );
        const { rows } = await client.query<{ v: number | null }>("SELECT MAX(version) AS v FROM audit_migrations");
        const current = rows[0]?.v ?? 0;
        const newest = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;
        if (current > newest) {
          throw new AuditError(
            "AUDIT_MIGRATION_FAILED",
            `The audit schema ${this.#schema} is at version ${current}, newer than this runtime knows (${newest}); upgrade the runtime`,
            { details: { current, newest } },
          );
        }
        for (const m of MIGRATIONS) {
          if (m.version <= current) continue;
          await client.query("BEGIN");
          try {
            await client.query(m.sql);
            await client.query("INSERT INTO audit_migrations (version, name, applied_at) VALUES ($1, $2, $3)", [m.version, m.name, Date.now()]);
            await client.query("COMMIT");
          } catch (err) {
            await client.query("ROLLBACK").catch(() => undefined);
            throw err;
          }
        }
      } finally {
        await client.query("SELECT pg_advisory_unlock(hashtext($1))", [`${this.#lockKey}:migrate`]);
      }
    } finally {
      client.release();
    }
  }

  async #readHead(client: pg.PoolClient | pg.Pool): Promise<ChainHead> {
    const { rows } = await client.query<{ seq: number; hash: string; cp: number | null; aseq: number | null; ahash: string | null }>(
      `SELECT (SELECT seq::float8 FROM audit_events ORDER BY seq DESC LIMIT 1) AS seq,
              (SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1) AS hash,
              (SELECT seq::float8 FROM audit_checkpoints ORDER BY seq DESC LIMIT 1) AS cp,
              (SELECT to_seq::float8 FROM audit_archives ORDER BY to_seq DESC LIMIT 1) AS aseq,
              (SELECT to_hash FROM audit_archives ORDER BY to_seq DESC LIMIT 1) AS ahash`,
    );
    const r = rows[0];
    const checkpoint_seq = r?.cp ?? 0;
    if (r?.seq != null) return { seq: r.seq, hash: r.hash, checkpoint_seq };
    if (r?.aseq != null && r.ahash) return { seq: r.aseq, hash: r.ahash, checkpoint_seq };
    return { seq: 0, hash: GENESIS_HASH, checkpoint_seq };
  }

  async #withClient<T>(what: string, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    this.#assertOpen();
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (err) {
      throw new AuditError("AUDIT_STORE_UNAVAILABLE", `Cannot reach the audit database: ${(err as Error).message}`, { cause: err });
    }
    try {
      return await fn(client);
    } catch (err) {
      throw pgError(err, what);
    } finally {
      client.release();
    }
  }

  async #transaction<T>(what: string, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.#withClient(what, async (client) => {
      await client.query("BEGIN");
      try {
        await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [this.#lockKey]);
        const out = await fn(client);
        await client.query("COMMIT");
        return out;
      } catch (err) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw err;
      }
    });
  }

  async append(build: (head: ChainHead) => AppendPlan): Promise<AppendPlan> {
    return this.#transaction("Audit append failed", async (client) => {
      const plan = build(await this.#readHead(client));
      if (plan.records.length) {
        const rs = plan.records;
        await client.query(
          `INSERT INTO audit_events (seq, id, ts, event_type, agent_id, details, metadata, prev_hash, hash)
           SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::bigint[], $4::text[], $5::uuid[], $6::text[], $7::text[], $8::text[], $9::text[])`,
          [
            rs.map((r) => r.seq),
            rs.map((r) => r.id),
            rs.map((r) => r.timestamp),
            rs.map((r) => r.event_type),
            rs.map((r) => r.agent_id),
            rs.map((r) => r.details),
            rs.map((r) => r.metadata_json),
            rs.map((r) => r.prev_hash),
            rs.map((r) => r.hash),
          ],
        );
        const keys: string[] = [];
        const values: string[] = [];
        const seqs: number[] = [];
        for (const r of rs) {
          for (const [k, v] of Object.entries(r.metadata)) {
            keys.push(k);
            values.push(v);
            seqs.push(r.seq);
          }
        }
        if (keys.length) {
          await client.query("INSERT INTO audit_metadata (key, value, seq) SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])", [
            keys,
            values,
            seqs,
          ]);
        }
      }
      const cp = plan.checkpoint;
      if (cp) {
        await client.query("INSERT INTO audit_checkpoints (seq, hash, ts, key_id, signature) VALUES ($1, $2, $3, $4, $5)", [
          cp.seq,
          cp.hash,
          cp.timestamp,
          cp.key_id,
          cp.signature,
        ]);
      }
      return plan;
    });
  }

  async head(): Promise<ChainHead> {
    return this.#withClient("Audit read failed", (c) => this.#readHead(c));
  }

  async firstSeq(): Promise<number> {
    return this.#withClient("Audit read failed", async (c) => {
      const { rows } = await c.query<{ seq: number }>("SELECT seq::float8 AS seq FROM audit_events ORDER BY seq ASC LIMIT 1");
      return rows[0]?.seq ?? 0;
    });
  }

  async #one(sql: string, params: unknown[]): Promise<AuditRecord | undefined> {
    return this.#withClient("Audit read failed", async (c) => {
      const { rows } = await c.query<Row>(sql, params);
      return rows[0] && toRecord(rows[0]);
    });
  }

  async getById(id: AuditId): Promise<AuditRecord | undefined> {
    // Not a UUID: cannot be in the UUID column (and must not reach the cast as an error).
    if (!UUID_RE.test(id)) return undefined;
    return this.#one(`SELECT ${COLUMNS} FROM audit_events WHERE id = $1::uuid`, [id]);
  }

  getBySeq(seq: number): Promise<AuditRecord | undefined> {
    return this.#one(`SELECT ${COLUMNS} FROM audit_events WHERE seq = $1`, [seq]);
  }

  async query(q: ResolvedAuditQuery): Promise<AuditRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const p = (v: unknown): string => (params.push(v), `$${params.length}`);
    if (q.from_time !== undefined) where.push(`ts >= ${p(q.from_time)}`);
    if (q.to_time !== undefined) where.push(`ts <= ${p(q.to_time)}`);
    if (q.event_types?.length) where.push(`event_type = ANY(${p(q.event_types)}::text[])`);
    if (q.agent_id !== undefined) where.push(`agent_id = ${p(q.agent_id)}::uuid`);
    for (const [k, v] of q.metadata) where.push(`seq IN (SELECT seq FROM audit_metadata WHERE key = ${p(k)} AND value = ${p(v)})`);
    if (q.text) where.push(`details ILIKE ${p(likePattern(q.text))} ESCAPE '\\'`);
    if (q.after_seq !== undefined) where.push(`seq ${q.order === "asc" ? ">" : "<"} ${p(q.after_seq)}`);
    const sql = `SELECT ${COLUMNS} FROM audit_events ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq ${
      q.order === "asc" ? "ASC" : "DESC"
    } LIMIT ${p(q.limit)}`;
    return this.#withClient("Audit query failed", async (c) => (await c.query<Row>(sql, params)).rows.map(toRecord));
  }

  async *scanChain(from_seq: number, to_seq: number): AsyncIterable<readonly ChainEntry[]> {
    let next = from_seq;
    for (;;) {
      const rows = await this.#withClient("Audit read failed", async (c) => {
        const res = await c.query<{ seq: number; prev_hash: string; hash: string; canonical: string | null }>(
          `SELECT seq::float8 AS seq, prev_hash, hash, ${CANONICAL_SQL} AS canonical FROM audit_events WHERE seq >= $1 AND seq <= $2 ORDER BY seq LIMIT $3`,
          [next, to_seq, SCAN_CHUNK],
        );
        return res.rows;
      });
      for (const r of rows) if (r.canonical === null) r.canonical = canonicalJson((await this.getBySeq(r.seq)) as AuditRecord);
      if (rows.length) yield rows as ChainEntry[];
      if (rows.length < SCAN_CHUNK) return;
      next = (rows[rows.length - 1] as ChainEntry).seq + 1;
    }
  }

  async *scan(from_seq: number, to_seq: number): AsyncIterable<readonly AuditRecord[]> {
    let next = from_seq;
    for (;;) {
      const rows = await this.#withClient("Audit read failed", async (c) => {
        const res = await c.query<Row>(`SELECT ${COLUMNS} FROM audit_events WHERE seq >= $1 AND seq <= $2 ORDER BY seq LIMIT $3`, [
          next,
          to_seq,
          SCAN_CHUNK,
        ]);
        return res.rows;
      });
      if (rows.length) yield rows.map(toRecord);
      if (rows.length < SCAN_CHUNK) return;
      next = (rows[rows.length - 1] as Row).seq + 1;
    }
  }

  async seqRangeForTime(from_time?: number, to_time?: number): Promise<{ first: number; last: number } | undefined> {
    return this.#withClient("Audit read failed", async (c) => {
      const first = from_time === undefined
        ? (await c.query<{ seq: number }>("SELECT seq::float8 AS seq FROM audit_events ORDER BY seq LIMIT 1")).rows[0]?.seq
        : (await c.query<{ seq: number }>("SELECT seq::float8 AS seq FROM audit_events WHERE ts >= $1 ORDER BY ts, seq LIMIT 1", [from_time])).rows[0]?.seq;
      const last = to_time === undefined
        ? (await c.query<{ seq: number }>("SELECT seq::float8 AS seq FROM audit_events ORDER BY seq DESC LIMIT 1")).rows[0]?.seq
        : (await c.query<{ seq: number }>("SELECT seq::float8 AS seq FROM audit_events WHERE ts <= $1 ORDER BY ts DESC, seq DESC LIMIT 1", [to_time])).rows[0]?.seq;
      if (first === undefined || last === undefined || first > last) return undefined;
      return { first, last };
    });
  }

  async checkpoints(from_seq: number, to_seq: number): Promise<Checkpoint[]> {
    return this.#withClient("Audit read failed", async (c) => {
      const { rows } = await c.query<{ seq: number; hash: string; ts: number; key_id: string; signature: string }>(
        "SELECT seq::float8 AS seq, hash, ts::float8 AS ts, key_id, signature FROM audit_checkpoints WHERE seq >= $1 AND seq <= $2 ORDER BY seq",
        [from_seq, to_seq],
      );
      return rows.map((r) => ({ seq: r.seq, hash: r.hash, timestamp: r.ts, key_id: r.key_id, signature: r.signature }));
    });
  }

  async prune(entry: ArchiveEntry): Promise<number> {
    return this.#transaction("Audit prune failed", async (c) => {
      await c.query("DELETE FROM audit_metadata WHERE seq <= $1", [entry.to_seq]);
      const res = await c.query("DELETE FROM audit_events WHERE seq <= $1", [entry.to_seq]);
      await c.query("INSERT INTO audit_archives (to_seq, from_seq, to_hash, location, archived_at) VALUES ($1, $2, $3, $4, $5)", [
        entry.to_seq,
        entry.from_seq,
        entry.to_hash,
        entry.location,
        entry.archived_at,
      ]);
      return res.rowCount ?? 0;
    });
  }

  async archives(): Promise<ArchiveEntry[]> {
    return this.#withClient("Audit read failed", async (c) => {
      const { rows } = await c.query<ArchiveEntry>(
        "SELECT from_seq::float8 AS from_seq, to_seq::float8 AS to_seq, to_hash, location, archived_at::float8 AS archived_at FROM audit_archives ORDER BY to_seq",
      );
      return rows;
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }

  #assertOpen(): void {
    if (this.#closed) throw new AuditError("AUDIT_STORE_UNAVAILABLE", "The audit store is closed");
  }
}
