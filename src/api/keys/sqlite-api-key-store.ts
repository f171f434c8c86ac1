/**
 * API keys in an SQLite file (better-sqlite3, WAL). Owns its database handle; `close()` releases it.
 * Schema changes are numbered migrations recorded in `user_version`.
 */
import { chmodSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { ApiError } from "../../core/errors.js";
import type { ApiKeyRecord, ApiKeyStore } from "./types.js";

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE api_keys (
     key_id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     hash TEXT NOT NULL,
     admin INTEGER NOT NULL,
     agent_ids TEXT,
     created_at INTEGER NOT NULL,
     expires_at INTEGER,
     revoked_at INTEGER,
     last_used_at INTEGER
   )`,
];

interface Row {
  key_id: string;
  name: string;
  hash: string;
  admin: number;
  agent_ids: string | null;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
  last_used_at: number | null;
}

function fromRow(r: Row): ApiKeyRecord {
  return {
    key_id: r.key_id,
    name: r.name,
    hash: r.hash,
    admin: r.admin === 1,
    agent_ids: r.agent_ids === null ? null : (JSON.parse(r.agent_ids) as string[]),
    created_at: r.created_at,
    expires_at: r.expires_at,
    revoked_at: r.revoked_at,
    last_used_at: r.last_used_at,
  };
}

function storeFailed(what: string, err: unknown): ApiError {
  return new ApiError("API_KEY_STORE_FAILED", `API key store: ${what} failed: ${(err as Error).message}`, { cause: err });
}

export class SqliteApiKeyStore implements ApiKeyStore {
  readonly #db: Database.Database;
  #closed = false;

  private constructor(db: Database.Database) {
    this.#db = db;
  }

  /** Opens (creating if needed) the file at `path` and runs pending migrations. */
  static async open(path: string): Promise<SqliteApiKeyStore> {
    let db: Database.Database;
    try {
      if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      db = new Database(path);
      // Hashes only, but nobody else needs to read them.
      if (path !== ":memory:") chmodSync(path, 0o600);
      db.pragma("journal_mode = WAL");
      db.pragma("busy_timeout = 5000");
      const version = db.pragma("user_version", { simple: true }) as number;
      db.transaction(() => {
        for (let i = version; i < MIGRATIONS.length; i++) db.exec(MIGRATIONS[i] as string);
        db.pragma(`user_version = ${MIGRATIONS.length}`);
      })();
    } catch (err) {
      throw storeFailed("open", err);
    }
    return new SqliteApiKeyStore(db);
  }

  async insert(r: ApiKeyRecord): Promise<void> {
    this.#run("insert", () =>
      this.#db
        .prepare(
          `INSERT INTO api_keys (key_id, name, hash, admin, agent_ids, created_at, expires_at, revoked_at, last_used_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(r.key_id, r.name, r.hash, r.admin ? 1 : 0, r.agent_ids ? JSON.stringify(r.agent_ids) : null, r.created_at, r.expires_at, r.revoked_at, r.last_used_at),
    );
  }

  async get(keyId: string): Promise<ApiKeyRecord | undefined> {
    const row = this.#run("get", () => this.#db.prepare("SELECT * FROM api_keys WHERE key_id = ?").get(keyId) as Row | undefined);
    return row ? fromRow(row) : undefined;
  }

  async list(): Promise<ApiKeyRecord[]> {
    const rows = this.#run("list", () => this.#db.prepare("SELECT * FROM api_keys ORDER BY created_at, key_id").all() as Row[]);
    return rows.map(fromRow);
  }

  async revoke(keyId: string, at: number): Promise<boolean> {
    return this.#run("revoke", () => {
      const res = this.#db.prepare("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE key_id = ?").run(at, keyId);
      return res.changes > 0;
    });
  }

  async touch(keyId: string, at: number): Promise<void> {
    this.#run("touch", () => this.#db.prepare("UPDATE api_keys SET last_used_at = ? WHERE key_id = ?").run(at, keyId));
  }

  async countActive(now: number): Promise<number> {
    return this.#run("count", () => {
      const row = this.#db
        .prepare("SELECT COUNT(*) AS n FROM api_keys WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)")
        .get(now) as { n: number };
      return row.n;
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }

  #run<T>(what: string, fn: () => T): T {
    if (this.#closed) throw new ApiError("API_KEY_STORE_FAILED", "The API key store is closed");
    try {
      return fn();
    } catch (err) {
      throw storeFailed(what, err);
    }
  }
}
