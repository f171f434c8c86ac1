/**
 * The PostgreSQL schema, as numbered migrations applied in order at open (under an advisory lock, so nodes
 * starting together migrate once). A migration is never edited once released: changes go in a new one.
 */
import type { Migration } from "./types.js";

export const POSTGRES_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "initial",
    sql: `
      CREATE TABLE agents (
        id TEXT PRIMARY KEY,
        config TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        last_updated BIGINT NOT NULL,
        execution_count BIGINT NOT NULL,
        error_count BIGINT NOT NULL,
        restart_count BIGINT NOT NULL
      );
      CREATE INDEX agents_created ON agents (created_at);

      CREATE TABLE allocations (
        agent_id TEXT PRIMARY KEY,
        allocated_at BIGINT NOT NULL,
        limits TEXT NOT NULL,
        current_usage TEXT NOT NULL
      );

      CREATE TABLE tasks (
        seq BIGSERIAL PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        agent_id TEXT NOT NULL,
        priority TEXT NOT NULL,
        priority_value BIGINT NOT NULL,
        scheduled_time BIGINT NOT NULL,
        timeout BIGINT NOT NULL,
        retry_count BIGINT NOT NULL,
        payload TEXT,
        status TEXT NOT NULL,
        attempts BIGINT NOT NULL DEFAULT 0,
        owner TEXT,
        result TEXT,
        error TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        started_at BIGINT,
        finished_at BIGINT
      );
      CREATE INDEX tasks_queue ON tasks (status, priority_value DESC, scheduled_time, seq);
      CREATE INDEX tasks_agent ON tasks (agent_id);
      CREATE INDEX tasks_finished ON tasks (finished_at) WHERE finished_at IS NOT NULL;

      CREATE TABLE schedules (
        id TEXT PRIMARY KEY,
        agent_id TEXT NOT NULL,
        interval_ms BIGINT,
        cron TEXT,
        timezone TEXT,
        next_run_at BIGINT NOT NULL,
        last_run_at BIGINT,
        missed_run_policy TEXT NOT NULL,
        enabled BIGINT NOT NULL,
        payload TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      );
      CREATE INDEX schedules_due ON schedules (enabled, next_run_at);

      CREATE TABLE messages (
        seq BIGSERIAL PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        sender TEXT NOT NULL,
        recipient TEXT NOT NULL,
        topic TEXT NOT NULL,
        priority TEXT NOT NULL,
        ttl BIGINT NOT NULL,
        payload BYTEA NOT NULL,
        status TEXT NOT NULL,
        attempts BIGINT NOT NULL DEFAULT 0,
        accepted_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        delivered_at BIGINT
      );
      CREATE INDEX messages_queue ON messages (status, recipient, seq);
      CREATE INDEX messages_expiry ON messages (status, expires_at);

      CREATE TABLE dead_letters (
        seq BIGSERIAL PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        ref_id TEXT NOT NULL,
        agent_id TEXT,
        reason TEXT NOT NULL,
        attempts BIGINT NOT NULL,
        payload TEXT,
        created_at BIGINT NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: "bus_keys",
    sql: `
      CREATE TABLE bus_keys (
        agent_id TEXT PRIMARY KEY,
        sealed BYTEA NOT NULL,
        created_at BIGINT NOT NULL
      );
    `,
  },
];
