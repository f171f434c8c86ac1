/**
 * SqliteAuditStore: the embedded default. One file (WAL mode, synchronous=FULL so a commit is on disk before
 * `append` resolves); each append is one `BEGIN IMMEDIATE` transaction that reads the head and inserts the
 * whole batch, so several processes may share the file. Metadata pairs are also kept in a side table so a
 * key/value filter uses an index. Migrations are numbered and run at open.
 *
 * The metadata column holds the canonical pairs JSON the hash covers (`metadataJson`, chain.ts; schema 2 on),
 * so `scanChain` has SQLite assemble each record's canonical text and verification never parses a record.
 * Rows written under schema 1 hold a metadata object instead; they stay readable and are verified from
 * their parsed fields.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { AuditError } from "../core/errors.js";
import type { AgentId, AuditId } from "../core/ids.js";
import { canonicalJson, GENESIS_HASH } from "./chain.js";
import { likePattern } from "./query.js";
import { chainEntryOf, SCAN_CHAIN_SQL } from "./sqlite-chain.js";
import type {
  AppendPlan,
  AppendRecord,
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
/** Smaller than SCAN_CHUNK: verification's rows are short-lived, and smaller batches of them collect cheaper. */
const CHAIN_CHUNK = 2_000;
/** Records per epoch of the agent index: 2^EPOCH_BITS. */
const EPOCH_BITS = 12;
const EPOCH_SIZE = 2 ** EPOCH_BITS;
/** Most epochs one run of an agent query covers (see `queryByEpoch`). */
const MAX_EPOCHS_PER_RUN = 64;
/** Rows per multi-row INSERT: fewer native calls per batch, well under SQLite's bound-parameter limit. */
const ROWS_PER_INSERT = 100;

const MIGRATIONS: readonly { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: "chain, checkpoints, metadata index, archives",
    sql: `
      CREATE TABLE audit_events (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        ts INTEGER NOT NULL,
        event_type TEXT NOT NULL,
        agent_id TEXT,
        details TEXT NOT NULL,
        metadata TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
      );
      CREATE INDEX audit_events_ts ON audit_events (ts, seq);
      CREATE INDEX audit_events_agent ON audit_events (agent_id, seq) WHERE agent_id IS NOT NULL;
      CREATE INDEX audit_events_type ON audit_events (event_type, seq);
      CREATE TABLE audit_metadata (
        key TEXT NOT NULL, value TEXT NOT NULL, seq INTEGER NOT NULL,
        PRIMARY KEY (key, value, seq)
      ) WITHOUT ROWID;
      CREATE TABLE audit_checkpoints (
        seq INTEGER PRIMARY KEY, hash TEXT NOT NULL, ts INTEGER NOT NULL, key_id TEXT NOT NULL, signature TEXT NOT NULL
      );
      CREATE TABLE audit_archives (
        to_seq INTEGER PRIMARY KEY, from_seq INTEGER NOT NULL, to_hash TEXT NOT NULL, location TEXT NOT NULL, archived_at INTEGER NOT NULL
      );`,
  },
  {
    // New rows keep metadata as canonical pairs JSON; the version bump also stops a runtime that knows only
    // schema 1 from reading those rows as metadata objects.
    //
    // The agent index leads with the record's epoch (EPOCH_SIZE records): keyed by agent alone, a batch
    // from a thousand agents dirtied a thousand scattered index pages per commit, which made it the most
    // expensive thing an append did. Within an epoch a batch touches a few adjacent pages; a query by agent
    // walks the epochs (see `query`).
    version: 2,
    name: "metadata column holds canonical pairs JSON; agent index by epoch",
    sql: `
      DROP INDEX audit_events_agent;
      CREATE INDEX audit_events_agent_epoch ON audit_events (seq >> ${EPOCH_BITS}, agent_id) WHERE agent_id IS NOT NULL;`,
  },
];

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

const COLUMNS = "seq, id, ts, event_type, agent_id, details, metadata, prev_hash, hash";

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

function toCheckpoint(r: { seq: number; hash: string; ts: number; key_id: string; signature: string }): Checkpoint {
  return { seq: r.seq, hash: r.hash, timestamp: r.ts, key_id: r.key_id, signature: r.signature };
}

export interface SqliteAuditStoreOptions {
  /** The database file (created with its directory when missing). */
  readonly path: string;
}

export class SqliteAuditStore implements AuditStore {
  readonly kind = "sqlite" as const;
  readonly #db: Database.Database;
  readonly #stmts;
  #closed = false;

  private constructor(db: Database.Database) {
    this.#db = db;
    this.#stmts = {
      lastEvent: db.prepare<[], { seq: number; hash: string }>("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1"),
      lastArchive: db.prepare<[], { to_seq: number; to_hash: string }>("SELECT to_seq, to_hash FROM audit_archives ORDER BY to_seq DESC LIMIT 1"),
      lastCheckpoint: db.prepare<[], { seq: number }>("SELECT seq FROM audit_checkpoints ORDER BY seq DESC LIMIT 1"),
      firstSeq: db.prepare<[], { seq: number }>("SELECT seq FROM audit_events ORDER BY seq ASC LIMIT 1"),
      insertEvent: db.prepare(`INSERT INTO audit_events (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      insertEvents: db.prepare(`INSERT INTO audit_events (${COLUMNS}) VALUES ${Array(ROWS_PER_INSERT).fill("(?, ?, ?, ?, ?, ?, ?, ?, ?)").join(", ")}`),
      // The side table's pairs come from the metadata column just written (the canonical pairs the hash
      // covers), in one statement per batch instead of three bound values per pair.
      insertMetadata: db.prepare(
        "INSERT INTO audit_metadata (key, value, seq) SELECT p.value ->> 0, p.value ->> 1, e.seq FROM audit_events e, json_each(e.metadata) p WHERE e.seq >= ? AND e.seq <= ?",
      ),
      insertCheckpoint: db.prepare("INSERT INTO audit_checkpoints (seq, hash, ts, key_id, signature) VALUES (?, ?, ?, ?, ?)"),
      byId: db.prepare<[string], Row>(`SELECT ${COLUMNS} FROM audit_events WHERE id = ?`),
      bySeq: db.prepare<[number], Row>(`SELECT ${COLUMNS} FROM audit_events WHERE seq = ?`),
      scan: db.prepare<[number, number, number], Row>(`SELECT ${COLUMNS} FROM audit_events WHERE seq >= ? AND seq <= ? ORDER BY seq LIMIT ?`),
      scanChain: db.prepare<[number, number, number], string | number>(SCAN_CHAIN_SQL).pluck(),
      checkpoints: db.prepare<[number, number], { seq: number; hash: string; ts: number; key_id: string; signature: string }>(
        "SELECT seq, hash, ts, key_id, signature FROM audit_checkpoints WHERE seq >= ? AND seq <= ? ORDER BY seq",
      ),
      firstAtOrAfter: db.prepare<[number], { seq: number }>("SELECT seq FROM audit_events WHERE ts >= ? ORDER BY ts, seq LIMIT 1"),
      lastAtOrBefore: db.prepare<[number], { seq: number }>("SELECT seq FROM audit_events WHERE ts <= ? ORDER BY ts DESC, seq DESC LIMIT 1"),
      archives: db.prepare<[], { from_seq: number; to_seq: number; to_hash: string; location: string; archived_at: number }>(
        "SELECT from_seq, to_seq, to_hash, location, archived_at FROM audit_archives ORDER BY to_seq",
      ),
    };
  }

  /** Opens (creating when missing) and migrates the database. */
  static async open(options: SqliteAuditStoreOptions): Promise<SqliteAuditStore> {
    let db: Database.Database;
    try {
      mkdirSync(dirname(options.path), { recursive: true });
      db = new Database(options.path);
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = FULL");
      db.pragma("busy_timeout = 10000");
    } catch (err) {
      throw new AuditError("AUDIT_STORE_UNAVAILABLE", `Cannot open the audit database ${options.path}: ${(err as Error).message}`, {
        cause: err,
        details: { path: options.path },
      });
    }
    try {
      migrate(db);
    } catch (err) {
      db.close();
      throw err;
    }
    return new SqliteAuditStore(db);
  }

  #readHead(): ChainHead {
    const last = this.#stmts.lastEvent.get();
    const archive = last ? undefined : this.#stmts.lastArchive.get();
    const checkpoint_seq = this.#stmts.lastCheckpoint.get()?.seq ?? 0;
    if (last) return { seq: last.seq, hash: last.hash, checkpoint_seq };
    if (archive) return { seq: archive.to_seq, hash: archive.to_hash, checkpoint_seq };
    return { seq: 0, hash: GENESIS_HASH, checkpoint_seq };
  }

  async append(build: (head: ChainHead) => AppendPlan): Promise<AppendPlan> {
    this.#assertOpen();
    const s = this.#stmts;
    const tx = this.#db.transaction(() => {
      const plan = build(this.#readHead());
      insertEvents(plan.records, s.insertEvents, s.insertEvent);
      const first = plan.records[0];
      const last = plan.records[plan.records.length - 1];
      if (first && last) s.insertMetadata.run(first.seq, last.seq);
      const cp = plan.checkpoint;
      if (cp) s.insertCheckpoint.run(cp.seq, cp.hash, cp.timestamp, cp.key_id, cp.signature);
      return plan;
    });
    try {
      return tx.immediate();
    } catch (err) {
      throw writeError(err);
    }
  }

  async head(): Promise<ChainHead> {
    this.#assertOpen();
    return this.#readHead();
  }

  async firstSeq(): Promise<number> {
    this.#assertOpen();
    return this.#stmts.firstSeq.get()?.seq ?? 0;
  }

  async getById(id: AuditId): Promise<AuditRecord | undefined> {
    this.#assertOpen();
    const row = this.#stmts.byId.get(id);
    return row && toRecord(row);
  }

  async getBySeq(seq: number): Promise<AuditRecord | undefined> {
    this.#assertOpen();
    const row = this.#stmts.bySeq.get(seq);
    return row && toRecord(row);
  }

  async query(q: ResolvedAuditQuery): Promise<AuditRecord[]> {
    this.#assertOpen();
    const where: string[] = [];
    const params: (string | number)[] = [];
    const add = (clause: string, ...values: (string | number)[]): void => {
      where.push(clause);
      params.push(...values);
    };
    // First, so the epochs are the first parameters (see queryByEpoch).
    if (q.agent_id !== undefined) {
      add(`(seq >> ${EPOCH_BITS}) IN (${Array(MAX_EPOCHS_PER_RUN).fill("?").join(", ")}) AND agent_id = ?`, ...Array<number>(MAX_EPOCHS_PER_RUN).fill(0), q.agent_id);
    }
    if (q.from_time !== undefined) add("ts >= ?", q.from_time);
    if (q.to_time !== undefined) add("ts <= ?", q.to_time);
    if (q.event_types?.length) add(`event_type IN (${q.event_types.map(() => "?").join(", ")})`, ...q.event_types);
    for (const [k, v] of q.metadata) add("seq IN (SELECT seq FROM audit_metadata WHERE key = ? AND value = ?)", k, v);
    if (q.text) add("details LIKE ? ESCAPE '\\'", likePattern(q.text));
    if (q.after_seq !== undefined) add(q.order === "asc" ? "seq > ?" : "seq < ?", q.after_seq);
    const sql = `SELECT ${COLUMNS} FROM audit_events ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq ${
      q.order === "asc" ? "ASC" : "DESC"
    } LIMIT ?`;
    params.push(q.limit);
    const stmt = this.#db.prepare<(string | number)[], Row>(sql);
    if (q.agent_id === undefined) return stmt.all(...params).map(toRecord);
    return this.#queryByEpoch(stmt, params, q);
  }

  /**
   * Runs an agent query over the epochs in the query's order until the page is full. The first parameters
   * name the epochs of one run (one index seek each): the first run covers one epoch and each next run
   * twice as many, up to MAX_EPOCHS_PER_RUN, so a busy agent's page is one seek and a rare agent's a few
   * runs however long the chain is. Unused slots repeat an epoch, which SQLite's IN list ignores.
   */
  #queryByEpoch(stmt: Database.Statement<(string | number)[], Row>, params: (string | number)[], q: ResolvedAuditQuery): AuditRecord[] {
    const first = this.#stmts.firstSeq.get()?.seq;
    const last = this.#stmts.lastEvent.get()?.seq;
    if (first === undefined || last === undefined) return [];
    const asc = q.order === "asc";
    const step = asc ? 1 : -1;
    const lo = Math.floor((asc && q.after_seq !== undefined ? Math.max(first, q.after_seq + 1) : first) / EPOCH_SIZE);
    const hi = Math.floor((!asc && q.after_seq !== undefined ? Math.min(last, q.after_seq - 1) : last) / EPOCH_SIZE);
    const out: AuditRecord[] = [];
    let epoch = asc ? lo : hi;
    for (let run = 1; (asc ? epoch <= hi : epoch >= lo) && out.length < q.limit; run = Math.min(run * 2, MAX_EPOCHS_PER_RUN)) {
      const end = asc ? Math.min(epoch + run - 1, hi) : Math.max(epoch - run + 1, lo);
      for (let i = 0; i < MAX_EPOCHS_PER_RUN; i++) params[i] = asc ? Math.min(epoch + i, end) : Math.max(epoch - i, end);
      params[params.length - 1] = q.limit - out.length;
      for (const row of stmt.all(...params)) out.push(toRecord(row));
      epoch = end + step;
    }
    return out;
  }

  async *scanChain(from_seq: number, to_seq: number): AsyncIterable<readonly ChainEntry[]> {
    let next = from_seq;
    for (;;) {
      this.#assertOpen();
      const rows = this.#stmts.scanChain.all(next, to_seq, CHAIN_CHUNK);
      const entries = rows.map((row) => (typeof row === "number" ? this.#chainEntryFromRow(row) : chainEntryOf(row)));
      if (entries.length) yield entries;
      if (rows.length < CHAIN_CHUNK) return;
      next = (entries[entries.length - 1] as ChainEntry).seq + 1;
    }
  }

  /** A row the chain statement does not assemble (schema-1 metadata, a hash of another length), read whole. */
  #chainEntryFromRow(seq: number): ChainEntry {
    const r = toRecord(this.#stmts.bySeq.get(seq) as Row);
    return { seq, prev_hash: r.prev_hash, hash: r.hash, canonical: canonicalJson(r) };
  }

  async *scan(from_seq: number, to_seq: number): AsyncIterable<readonly AuditRecord[]> {
    let next = from_seq;
    for (;;) {
      this.#assertOpen();
      const rows = this.#stmts.scan.all(next, to_seq, SCAN_CHUNK);
      if (rows.length) yield rows.map(toRecord);
      if (rows.length < SCAN_CHUNK) return;
      next = (rows[rows.length - 1] as Row).seq + 1;
    }
  }

  async seqRangeForTime(from_time?: number, to_time?: number): Promise<{ first: number; last: number } | undefined> {
    this.#assertOpen();
    const first = from_time === undefined ? this.#stmts.firstSeq.get()?.seq : this.#stmts.firstAtOrAfter.get(from_time)?.seq;
    const last = to_time === undefined ? this.#stmts.lastEvent.get()?.seq : this.#stmts.lastAtOrBefore.get(to_time)?.seq;
    if (first === undefined || last === undefined || first > last) return undefined;
    return { first, last };
  }

  async checkpoints(from_seq: number, to_seq: number): Promise<Checkpoint[]> {
    this.#assertOpen();
    return this.#stmts.checkpoints.all(from_seq, to_seq).map(toCheckpoint);
  }

  async prune(entry: ArchiveEntry): Promise<number> {
    this.#assertOpen();
    const tx = this.#db.transaction(() => {
      this.#db.prepare("DELETE FROM audit_metadata WHERE seq <= ?").run(entry.to_seq);
      const { changes } = this.#db.prepare("DELETE FROM audit_events WHERE seq <= ?").run(entry.to_seq);
      this.#db
        .prepare("INSERT INTO audit_archives (to_seq, from_seq, to_hash, location, archived_at) VALUES (?, ?, ?, ?, ?)")
        .run(entry.to_seq, entry.from_seq, entry.to_hash, entry.location, entry.archived_at);
      return changes;
    });
    try {
      return tx.immediate();
    } catch (err) {
      throw writeError(err);
    }
  }

  async archives(): Promise<ArchiveEntry[]> {
    this.#assertOpen();
    return this.#stmts.archives.all();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }

  #assertOpen(): void {
    if (this.#closed) throw new AuditError("AUDIT_STORE_UNAVAILABLE", "The audit store is closed");
  }
}

const EVENT_FIELDS = 9;

/** Writes a record's column values into `out` from `at`, in COLUMNS order. */
function eventFields(r: AppendRecord, out: unknown[], at: number): void {
  out[at] = r.seq;
  out[at + 1] = r.id;
  out[at + 2] = r.timestamp;
  out[at + 3] = r.event_type;
  out[at + 4] = r.agent_id;
  out[at + 5] = r.details;
  out[at + 6] = r.metadata_json;
  out[at + 7] = r.prev_hash;
  out[at + 8] = r.hash;
}

/**
 * Inserts records ROWS_PER_INSERT at a time with `many`, the remainder one by one with `one`. Parameters go
 * into one reused array: a batch is thousands of rows and per-row arrays would be most of the garbage.
 */
function insertEvents(records: readonly AppendRecord[], many: Database.Statement, one: Database.Statement): void {
  const params: unknown[] = new Array(ROWS_PER_INSERT * EVENT_FIELDS);
  let i = 0;
  for (; i + ROWS_PER_INSERT <= records.length; i += ROWS_PER_INSERT) {
    for (let j = 0; j < ROWS_PER_INSERT; j++) eventFields(records[i + j] as AppendRecord, params, j * EVENT_FIELDS);
    many.run(params);
  }
  params.length = EVENT_FIELDS;
  for (; i < records.length; i++) {
    eventFields(records[i] as AppendRecord, params, 0);
    one.run(params);
  }
}

function writeError(err: unknown): AuditError {
  if (err instanceof AuditError) return err;
  const code = (err as { code?: string }).code ?? "";
  const unavailable = /^SQLITE_(BUSY|LOCKED|CANTOPEN|IOERR|FULL|READONLY)/.test(code);
  return new AuditError(
    unavailable ? "AUDIT_STORE_UNAVAILABLE" : "AUDIT_WRITE_FAILED",
    `Audit append failed: ${(err as Error).message}`,
    { cause: err, details: { code } },
  );
}

function migrate(db: Database.Database): void {
  try {
    db.exec("CREATE TABLE IF NOT EXISTS audit_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)");
    const run = db.transaction(() => {
      const current = (db.prepare("SELECT MAX(version) AS v FROM audit_migrations").get() as { v: number | null }).v ?? 0;
      const newest = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;
      if (current > newest) {
        throw new AuditError(
          "AUDIT_MIGRATION_FAILED",
          `The audit database is at schema version ${current}, newer than this runtime knows (${newest}); upgrade the runtime`,
          { details: { current, newest } },
        );
      }
      for (const m of MIGRATIONS) {
        if (m.version <= current) continue;
        if (m.sql) db.exec(m.sql);
        db.prepare("INSERT INTO audit_migrations (version, name, applied_at) VALUES (?, ?, ?)").run(m.version, m.name, Date.now());
      }
    });
    run.immediate();
  } catch (err) {
    if (err instanceof AuditError) throw err;
    throw new AuditError("AUDIT_MIGRATION_FAILED", `Audit database migration failed: ${(err as Error).message}`, { cause: err });
  }
}
