/**
 * SqliteStateStore: the embedded default. One file under data_dir in WAL mode with `synchronous = FULL`, so
 * a committed transaction survives kill -9 and power loss; writes go through group commit. The file is
 * checked at open (`quick_check`) and a corrupt or foreign file stops start-up with STORE_CORRUPT naming it:
 * nothing is ever reset. `:memory:` gives the same store without a file (kind `memory`).
 */
import { accessSync, constants, existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { RuntimeError, StoreError } from "../core/errors.js";
import { GroupCommitter, type Queued } from "./group-commit.js";
import { createSqliteRepositories, type SqliteHandle } from "./sqlite-repositories.js";
import { SQLITE_MIGRATIONS } from "./sqlite-migrations.js";
import type { StateStore, StateStoreInfo } from "./types.js";

export interface SqliteStateStoreOptions {
  /** Path of the database file, or ":memory:". */
  readonly file: string;
  /** Most writes per transaction. @default 1000 */
  readonly maxBatch?: number;
  /** Open an existing store for reading only (`symbiont status`): no directory, file or migration is created. */
  readonly readOnly?: boolean;
}

type Db = Database.Database;

const CORRUPT_CODES = new Set(["SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_CORRUPT_VTAB", "SQLITE_CORRUPT_SEQUENCE", "SQLITE_CORRUPT_INDEX"]);

function sqliteCode(err: unknown): string | undefined {
  return err instanceof Database.SqliteError ? err.code : undefined;
}

/** Maps a driver error to the store's codes, naming the file. */
function mapSqliteError(err: unknown, file: string, writing: boolean): unknown {
  if (err instanceof RuntimeError) return err;
  const code = sqliteCode(err);
  const reason = err instanceof Error ? err.message : String(err);
  if (code && CORRUPT_CODES.has(code)) {
    return new StoreError("STORE_CORRUPT", `The state store file ${file} is corrupt: ${reason}`, {
      details: { file, sqlite_code: code },
      cause: err,
    });
  }
  const what = writing ? "STORE_WRITE_FAILED" : "STORE_UNAVAILABLE";
  return new StoreError(what, `State store ${file}: ${reason}`, { details: { file, ...(code ? { sqlite_code: code } : {}) }, cause: err });
}

function checkAccess(file: string, readOnly: boolean): void {
  if (file === ":memory:") return;
  if (!existsSync(file)) {
    if (readOnly) {
      throw new StoreError("STORE_UNAVAILABLE", `No state store at ${file}`, { details: { file } });
    }
    try {
      mkdirSync(dirname(file), { recursive: true });
    } catch (err) {
      throw new StoreError("STORE_UNAVAILABLE", `Cannot create the data directory for ${file}: ${(err as Error).message}`, {
        details: { file },
        cause: err,
      });
    }
    return;
  }
  try {
    accessSync(file, readOnly ? constants.R_OK : constants.R_OK | constants.W_OK);
  } catch (err) {
    throw new StoreError("STORE_UNAVAILABLE", `Cannot ${readOnly ? "read" : "read and write"} the state store file ${file}: ${(err as Error).message}`, {
      details: { file },
      cause: err,
    });
  }
}

/** Applies pending migrations in one transaction; refuses files that are not (or are newer) state stores. */
function migrate(db: Db, file: string, readOnly: boolean): number {
  const latest = SQLITE_MIGRATIONS.at(-1)?.version ?? 0;
  const tracked = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
  if (!tracked) {
    const { n } = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number };
    if (n > 0) {
      throw new StoreError("STORE_CORRUPT", `${file} is an SQLite database but not a Symbiont state store (it has other tables and no schema_migrations)`, {
        details: { file },
      });
    }
    if (readOnly) throw new StoreError("STORE_UNAVAILABLE", `${file} holds no state store yet`, { details: { file } });
  }
  const current = tracked
    ? ((db.prepare("SELECT max(version) AS v FROM schema_migrations").get() as { v: number | null }).v ?? 0)
    : 0;
  if (current > latest) {
    throw new StoreError(
      "STORE_VERSION_UNSUPPORTED",
      `The state store ${file} has schema version ${current}; this runtime knows up to ${latest}. Upgrade the runtime.`,
      { details: { file, version: current, supported: latest } },
    );
  }
  if (readOnly || current === latest) return current;
  db.transaction(() => {
    db.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)");
    const record = db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)");
    for (const m of SQLITE_MIGRATIONS) {
      if (m.version <= current) continue;
      db.exec(m.sql);
      record.run(m.version, m.name, Date.now());
    }
  }).immediate();
  return latest;
}

/**
 * Opens (creating when missing) the store at `options.file`.
 *
 * @example
 * const store = await createSqliteStateStore({ file: join(dataDir, "state.db") });
 * await store.tasks.accept({ id: TaskId.new(), agent_id, priority: "Normal", scheduled_time: Date.now(),
 *   timeout: 30_000, retry_count: 0 }, Date.now());
 * await store.close();
 */
export async function createSqliteStateStore(options: SqliteStateStoreOptions): Promise<StateStore> {
  const { file } = options;
  const readOnly = options.readOnly ?? false;
  checkAccess(file, readOnly);
  let db: Db;
  try {
    db = new Database(file, { readonly: readOnly, fileMustExist: readOnly });
  } catch (err) {
    throw mapSqliteError(err, file, false);
  }
  let version: number;
  try {
    db.pragma("busy_timeout = 5000");
    if (file !== ":memory:" && !readOnly) db.pragma("journal_mode = WAL");
    // FULL: a commit is on disk before the write that needed it is acknowledged.
    db.pragma("synchronous = FULL");
    const check = db.pragma("quick_check", { simple: true });
    if (check !== "ok") {
      throw new StoreError("STORE_CORRUPT", `The state store file ${file} is corrupt: ${String(check)}`, { details: { file } });
    }
    version = migrate(db, file, readOnly);
  } catch (err) {
    db.close();
    throw mapSqliteError(err, file, false);
  }
  return new SqliteStateStore(db, file, version, options.maxBatch ?? 1_000);
}

class SqliteStateStore implements StateStore, SqliteHandle {
  readonly info: StateStoreInfo;
  readonly agents;
  readonly allocations;
  readonly tasks;
  readonly schedules;
  readonly messages;
  readonly deadLetters;
  readonly busKeys;
  readonly committer: GroupCommitter<Db>;
  readonly #db: Db;
  readonly #file: string;
  readonly #statements = new Map<string, Database.Statement>();
  #closed = false;

  constructor(db: Db, file: string, version: number, maxBatch: number) {
    this.#db = db;
    this.#file = file;
    this.info = { kind: file === ":memory:" ? "memory" : "sqlite", location: file, schema_version: version };
    const runInTransaction = db.transaction((batch: readonly Queued<Db>[]) => batch.map((q) => q.write(db, q.arg)));
    this.committer = new GroupCommitter<Db>(async (batch) => runInTransaction.immediate(batch), {
      maxBatch,
      location: file,
      mapError: (err) => mapSqliteError(err, file, true),
    });
    const repos = createSqliteRepositories(this);
    this.agents = repos.agents;
    this.allocations = repos.allocations;
    this.tasks = repos.tasks;
    this.schedules = repos.schedules;
    this.messages = repos.messages;
    this.deadLetters = repos.deadLetters;
    this.busKeys = repos.busKeys;
  }

  stmt(sql: string): Database.Statement {
    let s = this.#statements.get(sql);
    if (!s) this.#statements.set(sql, (s = this.#db.prepare(sql)));
    return s;
  }

  write<T, A>(fn: (db: Db, arg: A) => T, arg?: A): Promise<T> {
    return this.committer.submit(fn, arg as A);
  }

  async read<T>(fn: (db: Db) => T): Promise<T> {
    if (this.#closed) throw new StoreError("STORE_CLOSED", `The state store ${this.#file} is closed`, { details: { location: this.#file } });
    try {
      return fn(this.#db);
    } catch (err) {
      throw mapSqliteError(err, this.#file, false);
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
    this.#db.close();
  }
}
