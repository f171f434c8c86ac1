/**
 * SQLite PolicyStore (better-sqlite3): one file, WAL mode, every write its own committed transaction.
 * The store owns the database handle and closes it.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import type { Policy } from "../core/types.js";
import { decodePolicy, encodePolicy, storeFailure } from "./store-codec.js";
import type { PolicyStore } from "./types.js";

type Db = InstanceType<typeof Database>;
type Statement = Database.Statement<unknown[]>;

export class SqlitePolicyStore implements PolicyStore {
  readonly #db: Db;
  readonly #put: Statement;
  readonly #delete: Statement;
  readonly #load: Statement;
  #closed = false;

  constructor(db: Db) {
    this.#db = db;
    db.exec(`CREATE TABLE IF NOT EXISTS policies (id TEXT PRIMARY KEY, body TEXT NOT NULL, updated_at INTEGER NOT NULL)`);
    this.#put = db.prepare(
      `INSERT INTO policies (id, body, updated_at) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at`,
    );
    this.#delete = db.prepare(`DELETE FROM policies WHERE id = ?`);
    this.#load = db.prepare(`SELECT id, body FROM policies ORDER BY id`);
  }

  async load(): Promise<Policy[]> {
    try {
      return (this.#load.all() as { id: string; body: string }[]).map((r) => decodePolicy(r.id, r.body));
    } catch (err) {
      throw storeFailure("load", err);
    }
  }

  async put(policy: Policy): Promise<void> {
    try {
      this.#put.run(policy.id, encodePolicy(policy), Date.now());
    } catch (err) {
      throw storeFailure("write", err);
    }
  }

  async delete(policyId: string): Promise<boolean> {
    try {
      return this.#delete.run(policyId).changes > 0;
    } catch (err) {
      throw storeFailure("delete", err);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }
}

/** Opens (creating when needed) the policy database at `file`; `:memory:` for a throwaway one. */
export async function openSqlitePolicyStore(file: string): Promise<SqlitePolicyStore> {
  try {
    if (file !== ":memory:") mkdirSync(dirname(file), { recursive: true });
    const db = new Database(file);
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.pragma("busy_timeout = 5000");
    return new SqlitePolicyStore(db);
  } catch (err) {
    throw storeFailure(`open ${file}`, err);
  }
}
