/**
 * The repositories of PostgresStateStore. Reads use the pool; writes go through the store's group committer
 * on the batch's connection, with parameters captured when the write is issued.
 */
import type pg from "pg";
import { AGENT_STATES, PRIORITY_VALUE, type AgentState } from "../core/types.js";
import {
  agentFromRow,
  agentParams,
  allocationFromRow,
  allocationParams,
  deadLetterFromRow,
  deadLetterParams,
  messageFromRow,
  num,
  scheduleFromRow,
  scheduleParams,
  taskCounts,
  taskFromRow,
  toJson,
  zeroCounts,
  type Row,
} from "./rows.js";
import type {
  AgentRepository,
  AllocationRepository,
  DeadLetterRepository,
  MessageRepository,
  MessageStatus,
  ScheduleRepository,
  StoredMessage,
  StoredTask,
  TaskListFilter,
  TaskRepository,
} from "./types.js";

/** What the repositories need from the store. */
export interface PgHandle {
  write<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T>;
  read(sql: string, params?: readonly unknown[]): Promise<Row[]>;
}

const MESSAGE_STATUSES: readonly MessageStatus[] = ["Pending", "InFlight", "Delivered"];

export function createPostgresRepositories(h: PgHandle) {
  const one = async (sql: string, params: unknown[] = []) => (await h.read(sql, params))[0];
  const run = (sql: string, params: unknown[] = []) => h.write(async (c) => (await c.query(sql, params)).rowCount ?? 0);
  const returning = (sql: string, params: unknown[]) => h.write(async (c) => (await c.query(sql, params)).rows as Row[]);

  const agents: AgentRepository = {
    put: async (a) => {
      await run(
        `INSERT INTO agents (id, config, state, created_at, last_updated, execution_count, error_count, restart_count)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (id) DO UPDATE SET config = excluded.config, state = excluded.state, last_updated = excluded.last_updated,
           execution_count = excluded.execution_count, error_count = excluded.error_count, restart_count = excluded.restart_count`,
        agentParams(a),
      );
    },
    remove: async (id) => {
      await run("DELETE FROM agents WHERE id = $1", [id]);
    },
    get: async (id) => {
      const r = await one("SELECT * FROM agents WHERE id = $1", [id]);
      return r && agentFromRow(r);
    },
    list: async () => (await h.read("SELECT * FROM agents ORDER BY created_at, id")).map(agentFromRow),
    count: async () => num((await one("SELECT count(*) AS n FROM agents"))?.n),
    countByState: async () => {
      const out = zeroCounts<AgentState>(AGENT_STATES);
      for (const r of await h.read("SELECT state, count(*) AS n FROM agents GROUP BY state")) out[r.state as AgentState] = num(r.n);
      return out;
    },
  };

  const allocations: AllocationRepository = {
    put: async (a) => {
      await run(
        `INSERT INTO allocations (agent_id, allocated_at, limits, current_usage) VALUES ($1, $2, $3, $4)
         ON CONFLICT (agent_id) DO UPDATE SET allocated_at = excluded.allocated_at, limits = excluded.limits, current_usage = excluded.current_usage`,
        allocationParams(a),
      );
    },
    remove: async (agentId) => {
      await run("DELETE FROM allocations WHERE agent_id = $1", [agentId]);
    },
    get: async (agentId) => {
      const r = await one("SELECT * FROM allocations WHERE agent_id = $1", [agentId]);
      return r && allocationFromRow(r);
    },
    list: async () => (await h.read("SELECT * FROM allocations ORDER BY allocated_at")).map(allocationFromRow),
  };

  const tasks: TaskRepository = {
    accept: (t, at) => {
      const params = [t.id, t.agent_id, t.priority, PRIORITY_VALUE[t.priority], t.scheduled_time, t.timeout, t.retry_count, toJson(t.payload), at, at];
      return h.write(async (c) => {
        const inserted = await c.query(
          `INSERT INTO tasks (id, agent_id, priority, priority_value, scheduled_time, timeout, retry_count, payload, status, attempts, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'Pending', 0, $9, $10) ON CONFLICT (id) DO NOTHING RETURNING *`,
          params,
        );
        if (inserted.rows[0]) return { accepted: true, task: taskFromRow(inserted.rows[0] as Row) };
        const existing = await c.query("SELECT * FROM tasks WHERE id = $1", [t.id]);
        return { accepted: false, task: taskFromRow(existing.rows[0] as Row) };
      });
    },
    claim: async (id, owner, at) => {
      const [r] = await returning(
        "UPDATE tasks SET status = 'Running', attempts = attempts + 1, owner = $1, started_at = $2, updated_at = $2 WHERE id = $3 AND status = 'Pending' RETURNING *",
        [owner, at, id],
      );
      return r && taskFromRow(r);
    },
    nextPending: async (now, limit) =>
      (await h.read("SELECT * FROM tasks WHERE status = 'Pending' AND scheduled_time <= $1 ORDER BY priority_value DESC, scheduled_time, seq LIMIT $2", [now, limit])).map(
        taskFromRow,
      ),
    finish: async (id, outcome, at) => {
      const result = outcome.status === "Completed" ? toJson(outcome.result) : null;
      const error = outcome.status === "Completed" ? null : outcome.error;
      return (
        (await run("UPDATE tasks SET status = $1, result = $2, error = $3, finished_at = $4, updated_at = $4 WHERE id = $5 AND status = 'Running'", [
          outcome.status,
          result,
          error,
          at,
          id,
        ])) > 0
      );
    },
    retry: async (id, scheduledTime, error, at) =>
      (await run(
        "UPDATE tasks SET status = 'Pending', retry_count = retry_count + 1, scheduled_time = $1, error = $2, owner = NULL, updated_at = $3 WHERE id = $4 AND status = 'Running'",
        [scheduledTime, error, at, id],
      )) > 0,
    cancel: async (id, at) =>
      (await run("UPDATE tasks SET status = 'Cancelled', finished_at = $1, updated_at = $1 WHERE id = $2 AND status IN ('Pending', 'Running')", [at, id])) > 0,
    updatePriority: async (id, priority, at) =>
      (await run("UPDATE tasks SET priority = $1, priority_value = $2, updated_at = $3 WHERE id = $4 AND status IN ('Pending', 'Running')", [
        priority,
        PRIORITY_VALUE[priority],
        at,
        id,
      ])) > 0,
    requeueRunning: async (owner, at) => {
      const rows = await returning("UPDATE tasks SET status = 'Pending', updated_at = $1 WHERE status = 'Running' AND owner = $2 RETURNING *", [at, owner]);
      return rows.sort((a, b) => num(a.seq) - num(b.seq)).map(taskFromRow);
    },
    get: async (id) => {
      const r = await one("SELECT * FROM tasks WHERE id = $1", [id]);
      return r && taskFromRow(r);
    },
    list: async (filter: TaskListFilter = {}) => {
      const where: string[] = [];
      const params: unknown[] = [];
      if (filter.status) (params.push(filter.status), where.push(`status = $${params.length}`));
      if (filter.agent_id) (params.push(filter.agent_id), where.push(`agent_id = $${params.length}`));
      params.push(filter.limit ?? null);
      const sql = `SELECT * FROM tasks ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq LIMIT $${params.length}`;
      return (await h.read(sql, params)).map(taskFromRow) as StoredTask[];
    },
    countByStatus: async () => taskCounts(await h.read("SELECT status, count(*) AS n FROM tasks GROUP BY status")),
    pruneFinished: (before) => run("DELETE FROM tasks WHERE finished_at IS NOT NULL AND finished_at < $1", [before]),
  };

  const schedules: ScheduleRepository = {
    put: async (s) => {
      await run(
        `INSERT INTO schedules (id, agent_id, interval_ms, cron, timezone, next_run_at, last_run_at, missed_run_policy, enabled, payload, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (id) DO UPDATE SET agent_id = excluded.agent_id, interval_ms = excluded.interval_ms, cron = excluded.cron,
           timezone = excluded.timezone, next_run_at = excluded.next_run_at, last_run_at = excluded.last_run_at,
           missed_run_policy = excluded.missed_run_policy, enabled = excluded.enabled, payload = excluded.payload,
           created_at = excluded.created_at, updated_at = excluded.updated_at`,
        scheduleParams(s),
      );
    },
    remove: async (id) => {
      await run("DELETE FROM schedules WHERE id = $1", [id]);
    },
    get: async (id) => {
      const r = await one("SELECT * FROM schedules WHERE id = $1", [id]);
      return r && scheduleFromRow(r);
    },
    list: async () => (await h.read("SELECT * FROM schedules ORDER BY next_run_at, id")).map(scheduleFromRow),
    due: async (now, limit) =>
      (await h.read("SELECT * FROM schedules WHERE enabled = 1 AND next_run_at <= $1 ORDER BY next_run_at, id LIMIT $2", [now, limit])).map(scheduleFromRow),
    advance: async (id, expectedNext, nextRunAt, lastRunAt, at) =>
      (await run("UPDATE schedules SET next_run_at = $1, last_run_at = $2, updated_at = $3 WHERE id = $4 AND next_run_at = $5", [
        nextRunAt,
        lastRunAt,
        at,
        id,
        expectedNext,
      ])) > 0,
  };

  const messages: MessageRepository = {
    accept: async (m, at) => {
      const params = [m.id, m.from, m.to, m.topic, m.priority, m.ttl, Buffer.from(m.payload), at, at + m.ttl];
      const n = await run(
        `INSERT INTO messages (id, sender, recipient, topic, priority, ttl, payload, status, attempts, accepted_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'Pending', 0, $8, $9) ON CONFLICT (id) DO NOTHING`,
        params,
      );
      return { accepted: n > 0 };
    },
    claim: async (limit, at, to) => {
      const rows =
        to === undefined
          ? await returning(
              `UPDATE messages SET status = 'InFlight', attempts = attempts + 1 WHERE seq IN
                 (SELECT seq FROM messages WHERE status = 'Pending' AND expires_at > $1 ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING *`,
              [at, limit],
            )
          : await returning(
              `UPDATE messages SET status = 'InFlight', attempts = attempts + 1 WHERE seq IN
                 (SELECT seq FROM messages WHERE status = 'Pending' AND recipient = $1 AND expires_at > $2 ORDER BY seq LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING *`,
              [to, at, limit],
            );
      return sortedMessages(rows);
    },
    ack: async (id, at) => (await run("UPDATE messages SET status = 'Delivered', delivered_at = $1 WHERE id = $2 AND status = 'InFlight'", [at, id])) > 0,
    release: async (id) => (await run("UPDATE messages SET status = 'Pending' WHERE id = $1 AND status = 'InFlight'", [id])) > 0,
    requeueInFlight: () => run("UPDATE messages SET status = 'Pending' WHERE status = 'InFlight'"),
    takeExpired: async (now, limit) =>
      sortedMessages(
        await returning(
          `DELETE FROM messages WHERE seq IN
             (SELECT seq FROM messages WHERE status = 'Pending' AND expires_at <= $1 ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING *`,
          [now, limit],
        ),
      ),
    get: async (id) => {
      const r = await one("SELECT * FROM messages WHERE id = $1", [id]);
      return r && messageFromRow(r);
    },
    countByStatus: async () => {
      const out = zeroCounts(MESSAGE_STATUSES);
      for (const r of await h.read("SELECT status, count(*) AS n FROM messages GROUP BY status")) out[r.status as MessageStatus] = num(r.n);
      return out;
    },
    pruneDelivered: (before) => run("DELETE FROM messages WHERE status = 'Delivered' AND delivered_at < $1", [before]),
  };

  const deadLetters: DeadLetterRepository = {
    add: async (d, capacity) => {
      const params = deadLetterParams(d);
      await h.write(async (c) => {
        await c.query(
          "INSERT INTO dead_letters (id, kind, ref_id, agent_id, reason, attempts, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
          params,
        );
        await c.query("DELETE FROM dead_letters WHERE seq <= (SELECT seq FROM dead_letters ORDER BY seq DESC LIMIT 1 OFFSET $1)", [capacity]);
      });
    },
    list: async (limit) => (await h.read("SELECT * FROM dead_letters ORDER BY seq LIMIT $1", [limit ?? null])).map(deadLetterFromRow),
    remove: async (id) => (await run("DELETE FROM dead_letters WHERE id = $1", [id])) > 0,
    count: async () => num((await one("SELECT count(*) AS n FROM dead_letters"))?.n),
  };

  return { agents, allocations, tasks, schedules, messages, deadLetters };
}

/** RETURNING gives rows in no promised order; callers get them in arrival order. */
function sortedMessages(rows: Row[]): StoredMessage[] {
  return [...rows].sort((a, b) => num(a.seq) - num(b.seq)).map(messageFromRow);
}
