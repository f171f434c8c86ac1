/**
 * PostgreSQL PolicyStore (pg): a `policies` table in the configured schema, created at open. The store owns
 * its connection pool and ends it on close.
 */
import pg from "pg";
import type { Policy } from "../core/types.js";
import { decodePolicy, encodePolicy, storeFailure } from "./store-codec.js";
import type { PolicyStore } from "./types.js";

export interface PostgresPolicyStoreOptions {
  readonly url: string;
  /** Schema holding the table (created when missing). @default "public" */
  readonly schema?: string;
}

export class PostgresPolicyStore implements PolicyStore {
  readonly #pool: pg.Pool;
  readonly #table: string;
  #closed = false;

  constructor(pool: pg.Pool, table: string) {
    this.#pool = pool;
    this.#table = table;
  }

  async load(): Promise<Policy[]> {
    try {
      const res = await this.#pool.query<{ id: string; body: string }>(`SELECT id, body FROM ${this.#table} ORDER BY id`);
      return res.rows.map((r) => decodePolicy(r.id, r.body));
    } catch (err) {
      throw storeFailure("load", err);
    }
  }

  async put(policy: Policy): Promise<void> {
    try {
      await this.#pool.query(
        `INSERT INTO ${this.#table} (id, body, updated_at) VALUES ($1, $2, now()) ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body, updated_at = now()`,
        [policy.id, encodePolicy(policy)],
      );
    } catch (err) {
      throw storeFailure("write", err);
    }
  }

  async delete(policyId: string): Promise<boolean> {
    try {
      const res = await this.#pool.query(`DELETE FROM ${this.#table} WHERE id = $1`, [policyId]);
      return (res.rowCount ?? 0) > 0;
    } catch (err) {
      throw storeFailure("delete", err);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }
}

/** Connects, creates the schema and table when missing, and returns the store. */
export async function openPostgresPolicyStore(options: PostgresPolicyStoreOptions): Promise<PostgresPolicyStore> {
  const schema = options.schema ?? "public";
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw storeFailure("open", new Error(`invalid schema name ${schema}`));
  const pool = new pg.Pool({ connectionString: options.url, max: 4 });
  // An idle client's connection error must not crash the process; the next query reports it.
  pool.on("error", () => undefined);
  const table = `"${schema}".policies`;
  try {
    await pool.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    await pool.query(`CREATE TABLE IF NOT EXISTS ${table} (id TEXT PRIMARY KEY, body TEXT NOT NULL, updated_at TIMESTAMPTZ NOT NULL)`);
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw storeFailure("open", err);
  }
  return new PostgresPolicyStore(pool, table);
}
