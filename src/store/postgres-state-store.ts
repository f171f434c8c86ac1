/**
 * PostgresStateStore: state shared by several runtime nodes. Tables live in one schema (created when
 * missing); writes go through group commit, one transaction per batch on one pooled connection, so an
 * acknowledgement always follows COMMIT. Conditional writes use row locks (`FOR UPDATE SKIP LOCKED`) so two
 * nodes never claim the same task or message.
 */
import pg from "pg";
import { RuntimeError, StoreError } from "../core/errors.js";
import { GroupCommitter, type Queued } from "./group-commit.js";
import { POSTGRES_MIGRATIONS } from "./postgres-migrations.js";
import { createPostgresRepositories, type Bulk, type PgHandle } from "./postgres-repositories.js";
import type { StateStore, StateStoreInfo } from "./types.js";

export interface PostgresStateStoreOptions {
  readonly url: string;
  /** A plain identifier: lower-case letters, digits and _. @default "symbiont" */
  readonly schema?: string;
  /** @default 4 */
  readonly poolSize?: number;
  /** Most writes per transaction. @default 1000 */
  readonly maxBatch?: number;
}

const SCHEMA_RE = /^[a-z_][a-z0-9_]{0,62}$/;
/** SQLSTATE classes meaning the server cannot be reached or is going away. */
const UNAVAILABLE_STATES = /^(08|57P|53)/;
const NETWORK_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ENOTFOUND", "EHOSTUNREACH", "EPIPE"]);

/** Where the store is, without credentials. */
function describeLocation(url: string, schema: string): string {
  try {
    const u = new URL(url);
    return `postgres://${u.host}${u.pathname} schema ${schema}`;
  } catch {
    return `postgres schema ${schema}`;
  }
}

function mapPgError(err: unknown, location: string, writing: boolean): unknown {
  if (err instanceof RuntimeError) return err;
  const code = (err as { code?: string }).code ?? "";
  const reason = err instanceof Error ? err.message : String(err);
  const details = { location, ...(code ? { pg_code: code } : {}) };
  if (code === "XX001" || code === "XX002") {
    return new StoreError("STORE_CORRUPT", `The state store at ${location} reports corrupt data: ${reason}`, { details, cause: err });
  }
  if (UNAVAILABLE_STATES.test(code) || NETWORK_CODES.has(code) || !writing) {
    return new StoreError("STORE_UNAVAILABLE", `State store ${location}: ${reason}`, { details, cause: err });
  }
  return new StoreError("STORE_WRITE_FAILED", `State store ${location}: ${reason}`, { details, cause: err });
}

async function migrate(pool: pg.Pool, schema: string, location: string): Promise<number> {
  const latest = POSTGRES_MIGRATIONS.at(-1)?.version ?? 0;
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    // Nodes starting together: the first migrates, the others wait and then find nothing to do.
    await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`symbiont-state:${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    await client.query(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    );
    const { rows } = await client.query<{ v: string | null }>("SELECT max(version) AS v FROM schema_migrations");
    const current = Number(rows[0]?.v ?? 0);
    if (current > latest) {
      throw new StoreError(
        "STORE_VERSION_UNSUPPORTED",
        `The state store at ${location} has schema version ${current}; this runtime knows up to ${latest}. Upgrade the runtime.`,
        { details: { location, version: current, supported: latest } },
      );
    }
    for (const m of POSTGRES_MIGRATIONS) {
      if (m.version <= current) continue;
      await client.query(m.sql);
      await client.query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)", [m.version, m.name, Date.now()]);
    }
    await client.query("COMMIT");
    return Math.max(current, latest);
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/**
 * Connects, creates the schema and applies migrations.
 *
 * @example
 * const store = await createPostgresStateStore({ url: "postgres://postgres@127.0.0.1:5432/test", schema: "symbiont" });
 */
export async function createPostgresStateStore(options: PostgresStateStoreOptions): Promise<StateStore> {
  const schema = options.schema ?? "symbiont";
  if (!SCHEMA_RE.test(schema)) {
    throw new StoreError("STORE_UNAVAILABLE", `Invalid PostgreSQL schema name ${JSON.stringify(schema)}`, { details: { schema } });
  }
  const location = describeLocation(options.url, schema);
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 4,
    options: `-c search_path=${schema}`,
    connectionTimeoutMillis: 10_000,
  });
  // An idle pooled connection dropped by the server must not crash the process; the next query reconnects.
  pool.on("error", () => undefined);
  let version: number;
  try {
    version = await migrate(pool, schema, location);
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw mapPgError(err, location, false);
  }
  return new PostgresStateStore(pool, location, version, options.maxBatch ?? 1_000);
}

/**
 * The run of writes starting at `start` that one statement can carry: consecutive writes of the same bulk
 * kind (their argument) on distinct keys (each round trip costs far more than a row). A duplicate key ends
 * the run, so writes on the same row still apply one after another, exactly as issued.
 */
function bulkRun(batch: readonly Queued<pg.PoolClient>[], start: number): { length: number; exec(c: pg.PoolClient): Promise<unknown[]> } {
  const first = batch[start]!;
  const one = { length: 1, exec: async (c: pg.PoolClient) => [await first.write(c, first.arg)] };
  const kind = (first.arg as Bulk<unknown, unknown> | undefined)?.kind;
  if (!kind) return one;
  const keys = new Set<string>();
  const items: unknown[] = [];
  for (let i = start; i < batch.length; i++) {
    const b = batch[i]!.arg as Bulk<unknown, unknown> | undefined;
    if (b?.kind !== kind || keys.has(b.key)) break;
    keys.add(b.key);
    items.push(b.item);
  }
  if (items.length === 1) return one;
  return { length: items.length, exec: (c) => (first.arg as Bulk<unknown, unknown>).run(c, items) };
}

class PostgresStateStore implements StateStore, PgHandle {
  readonly info: StateStoreInfo;
  readonly agents;
  readonly allocations;
  readonly tasks;
  readonly schedules;
  readonly messages;
  readonly deadLetters;
  readonly busKeys;
  readonly committer: GroupCommitter<pg.PoolClient>;
  readonly #pool: pg.Pool;
  readonly #location: string;
  #closed = false;

  constructor(pool: pg.Pool, location: string, version: number, maxBatch: number) {
    this.#pool = pool;
    this.#location = location;
    this.info = { kind: "postgres", location, schema_version: version };
    this.committer = new GroupCommitter<pg.PoolClient>((writes) => this.#commit(writes), {
      maxBatch,
      location,
      mapError: (err) => mapPgError(err, location, true),
    });
    const repos = createPostgresRepositories(this);
    this.agents = repos.agents;
    this.allocations = repos.allocations;
    this.tasks = repos.tasks;
    this.schedules = repos.schedules;
    this.messages = repos.messages;
    this.deadLetters = repos.deadLetters;
    this.busKeys = repos.busKeys;
  }

  async #commit(batch: readonly Queued<pg.PoolClient>[]): Promise<unknown[]> {
    const client = await this.#pool.connect();
    let broken = false;
    try {
      await client.query("BEGIN");
      const results: unknown[] = [];
      for (let i = 0; i < batch.length; ) {
        const run = bulkRun(batch, i);
        results.push(...(await run.exec(client)));
        i += run.length;
      }
      await client.query("COMMIT");
      return results;
    } catch (err) {
      await client.query("ROLLBACK").catch(() => {
        broken = true;
      });
      throw err;
    } finally {
      client.release(broken);
    }
  }

  write<T>(fn: (client: pg.PoolClient) => Promise<T>, bulk?: Bulk<unknown, T>): Promise<T> {
    return this.committer.submit(fn, bulk);
  }

  async read(sql: string, params: readonly unknown[] = []): Promise<Record<string, unknown>[]> {
    if (this.#closed) {
      throw new StoreError("STORE_CLOSED", `The state store ${this.#location} is closed`, { details: { location: this.#location } });
    }
    try {
      return (await this.#pool.query(sql, params as unknown[])).rows as Record<string, unknown>[];
    } catch (err) {
      throw mapPgError(err, this.#location, false);
    }
  }

  get commitStats(): { readonly batches: number; readonly writes: number } {
    return this.committer.stats;
  }

  flush(): Promise<void> {
    return this.committer.flush();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.committer.close();
    this.#closed = true;
    await this.#pool.end();
  }
}
