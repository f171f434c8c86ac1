/**
 * The SQLite schema, as numbered migrations applied in order at open. A migration is never edited once
 * released: changes go in a new one. `schema_migrations` records what was applied.
 */
import type { Migration } from "./types.js";

export const SQLITE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "initial",
    sql: `
      CREATE TABLE agents (
        id TEXT PRIMARY KEY,
        config TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        last_updated INTEGER NOT NULL,
        execution_count INTEGER NOT NULL,
        error_count INTEGER NOT NULL,
        restart_count INTEGER NOT NULL
      );
      CREATE INDEX agents_created ON agents (created_at);

      CREATE TABLE allocations (
        agent_id TEXT PRIMARY KEY,
        allocated_at INTEGER NOT NULL,
        limits TEXT NOT NULL,
        current_usage TEXT NOT NULL
      );

      CREATE TABLE tasks (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        agent_id TEXT NOT NULL,
        priority TEXT NOT NULL,
        priority_value INTEGER NOT NULL,
        scheduled_time INTEGER NOT NULL,
        timeout INTEGER NOT NULL,
        retry_count INTEGER NOT NULL,
        payload TEXT,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        owner TEXT,
        result TEXT,
        error TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        started_at INTEGER,
        finished_at INTEGER
      );
      CREATE INDEX tasks_queue ON tasks (status, priority_value DESC, scheduled_time, seq);
      CREATE INDEX tasks_agent ON tasks (agent_id);
      CREATE INDEX tasks_finished ON tasks (finished_at) WHERE finished_at IS NOT NULL;

      CREATE TABLE schedules (
        id TEXT PRIMARY KEY,
        agent_id TEXT NOT NULL,
        interval_ms INTEGER,
        cron TEXT,
        timezone TEXT,
        next_run_at INTEGER NOT NULL,
        last_run_at INTEGER,
        missed_run_policy TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        payload TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE INDEX schedules_due ON schedules (enabled, next_run_at);

      CREATE TABLE messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        sender TEXT NOT NULL,
        recipient TEXT NOT NULL,
        topic TEXT NOT NULL,
        priority TEXT NOT NULL,
        ttl INTEGER NOT NULL,
        payload BLOB NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        accepted_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        delivered_at INTEGER
      );
      CREATE INDEX messages_queue ON messages (status, recipient, seq);
      CREATE INDEX messages_expiry ON messages (status, expires_at);

      CREATE TABLE dead_letters (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        ref_id TEXT NOT NULL,
        agent_id TEXT,
        reason TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        payload TEXT,
        created_at INTEGER NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: "bus_keys",
    sql: `
      CREATE TABLE bus_keys (
        agent_id TEXT PRIMARY KEY,
        sealed BLOB NOT NULL,
        created_at INTEGER NOT NULL
      );
    `,
  },
];
