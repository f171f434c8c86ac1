/**
 * The repositories of SqliteStateStore. Reads run directly (better-sqlite3 is synchronous and sees every
 * committed write); writes go through the store's group committer, with their parameters captured when the
 * write is issued so a caller changing its object afterwards cannot change what is written.
 */
import type Database from "better-sqlite3";
import type { AgentId, MessageId, TaskId } from "../core/ids.js";
import { AGENT_STATES, PRIORITY_VALUE, type AgentState, type Priority, type ResourceAllocation } from "../core/types.js";
import {
  agentFromRow,
  agentParams,
  allocationFromRow,
  byUrgency,
  newTask,
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
import { MESSAGE_STATUSES } from "./types.js";
import type {
  AgentRepository,
  BusKeyRepository,
  AllocationRepository,
  DeadLetterRepository,
  MessageRepository,
  MessageStatus,
  ScheduleRepository,
  StoredAgent,
  StoredMessage,
  StoredTask,
  TaskListFilter,
  TaskRepository,
} from "./types.js";

type Db = Database.Database;

/** What an accept binds, in column order: id … payload (JSON), created_at, updated_at. */
type AcceptParams = [TaskId, AgentId, Priority, number, number, number, number, string | null, number, number];

/** What the repositories need from the store. */
export interface SqliteHandle {
  stmt(sql: string): Database.Statement;
  /** Queues `fn` for the next group commit; `arg` is handed to it, so a hot write needs no closure. */
  write<T>(fn: (db: Db) => T): Promise<T>;
  write<T, A>(fn: (db: Db, arg: A) => T, arg: A): Promise<T>;
  read<T>(fn: (db: Db) => T): Promise<T>;
}

export function createSqliteRepositories(h: SqliteHandle) {
  const all = (sql: string, ...params: unknown[]) => h.read(() => h.stmt(sql).all(...params) as Row[]);
  const one = (sql: string, ...params: unknown[]) => h.read(() => h.stmt(sql).get(...params) as Row | undefined);
  const run = (sql: string, ...params: unknown[]) => h.write(() => h.stmt(sql).run(...params).changes);

  const agents: AgentRepository = {
    put: async (a) => {
      await run(
        `INSERT INTO agents (id, config, state, created_at, last_updated, execution_count, error_count, restart_count)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET config = excluded.config, state = excluded.state, last_updated = excluded.last_updated,
           execution_count = excluded.execution_count, error_count = excluded.error_count, restart_count = excluded.restart_count`,
        ...agentParams(a),
      );
    },
    remove: async (id) => {
      await run("DELETE FROM agents WHERE id = ?", id);
    },
    get: async (id) => {
      const r = await one("SELECT * FROM agents WHERE id = ?", id);
      return r && agentFromRow(r);
    },
    // Streamed row by row: at start-up this reads every agent, and holding all raw rows at once doubles the peak.
    list: () =>
      h.read(() => {
        const out: StoredAgent[] = [];
        for (const r of h.stmt("SELECT * FROM agents ORDER BY rowid").iterate()) out.push(agentFromRow(r as Row));
        return out;
      }),
    count: async () => num((await one("SELECT count(*) AS n FROM agents"))?.n),
    countByState: async () => {
      const out = zeroCounts<AgentState>(AGENT_STATES);
      for (const r of await all("SELECT state, count(*) AS n FROM agents GROUP BY state")) out[r.state as AgentState] = num(r.n);
      return out;
    },
  };

  const allocations: AllocationRepository = {
    put: async (a: ResourceAllocation) => {
      await run("INSERT OR REPLACE INTO allocations (agent_id, allocated_at, limits, current_usage) VALUES (?, ?, ?, ?)", ...allocationParams(a));
    },
    remove: async (agentId) => {
      await run("DELETE FROM allocations WHERE agent_id = ?", agentId);
    },
    get: async (agentId) => {
      const r = await one("SELECT * FROM allocations WHERE agent_id = ?", agentId);
      return r && allocationFromRow(r);
    },
    list: async () => (await all("SELECT * FROM allocations ORDER BY allocated_at")).map(allocationFromRow),
  };

  /** One function for every accept: its parameters are captured as the write's argument when it is issued. */
  const acceptTask = (_db: Db, params: AcceptParams): { accepted: boolean; task: StoredTask } => {
    const { changes } = h
      .stmt(
        `INSERT INTO tasks (id, agent_id, priority, priority_value, scheduled_time, timeout, retry_count, payload, status, attempts, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'Pending', 0, ?, ?) ON CONFLICT (id) DO NOTHING`,
      )
      .run(params);
    if (changes > 0) {
      const [id, agent_id, priority, , scheduled_time, timeout, retry_count, payload, at] = params;
      return { accepted: true, task: newTask({ id, agent_id, priority, scheduled_time, timeout, retry_count }, at, payload) };
    }
    return { accepted: false, task: taskFromRow(h.stmt("SELECT * FROM tasks WHERE id = ?").get(params[0]) as Row) };
  };

  const tasks: TaskRepository = {
    accept: (t, at) =>
      h.write(acceptTask, [t.id, t.agent_id, t.priority, PRIORITY_VALUE[t.priority], t.scheduled_time, t.timeout, t.retry_count, toJson(t.payload), at, at]),
    claim: async (id, owner, at) => {
      const r = await h.write(
        () =>
          h
            .stmt("UPDATE tasks SET status = 'Running', attempts = attempts + 1, owner = ?, started_at = ?, updated_at = ? WHERE id = ? AND status = 'Pending' RETURNING *")
            .get(owner, at, at, id) as Row | undefined,
      );
      return r && taskFromRow(r);
    },
    claimNext: async (owner, now, limit) =>
      (
        await h.write(
          () =>
            h
              .stmt(
                `UPDATE tasks SET status = 'Running', attempts = attempts + 1, owner = ?, started_at = ?, updated_at = ? WHERE seq IN
                   (SELECT seq FROM tasks WHERE status = 'Pending' AND scheduled_time <= ? ORDER BY priority_value DESC, scheduled_time, seq LIMIT ?) RETURNING *`,
              )
              .all(owner, now, now, now, limit) as Row[],
        )
      )
        .sort(byUrgency)
        .map(taskFromRow),
    nextPending: async (now, limit) =>
      (await all("SELECT * FROM tasks WHERE status = 'Pending' AND scheduled_time <= ? ORDER BY priority_value DESC, scheduled_time, seq LIMIT ?", now, limit)).map(taskFromRow),
    finish: async (id, outcome, at) => {
      const result = outcome.status === "Completed" ? toJson(outcome.result) : null;
      const error = outcome.status === "Completed" ? null : outcome.error;
      return (await run("UPDATE tasks SET status = ?, result = ?, error = ?, finished_at = ?, updated_at = ? WHERE id = ? AND status = 'Running'", outcome.status, result, error, at, at, id)) > 0;
    },
    retry: async (id, scheduledTime, error, at) =>
      (await run(
        "UPDATE tasks SET status = 'Pending', retry_count = retry_count + 1, scheduled_time = ?, error = ?, owner = NULL, updated_at = ? WHERE id = ? AND status = 'Running'",
        scheduledTime,
        error,
        at,
        id,
      )) > 0,
    cancel: async (id, at) =>
      (await run("UPDATE tasks SET status = 'Cancelled', finished_at = ?, updated_at = ? WHERE id = ? AND status IN ('Pending', 'Running')", at, at, id)) > 0,
    updatePriority: async (id, priority: Priority, at) =>
      (await run("UPDATE tasks SET priority = ?, priority_value = ?, updated_at = ? WHERE id = ? AND status IN ('Pending', 'Running')", priority, PRIORITY_VALUE[priority], at, id)) > 0,
    reassign: async (id, agentId: AgentId, at) =>
      (await run("UPDATE tasks SET agent_id = ?, updated_at = ? WHERE id = ? AND status IN ('Pending', 'Running')", agentId, at, id)) > 0,
    requeueRunning: async (owner, at) => {
      const rows = await h.write(() => h.stmt("UPDATE tasks SET status = 'Pending', updated_at = ? WHERE status = 'Running' AND owner = ? RETURNING *").all(at, owner) as Row[]);
      return rows.map(taskFromRow).sort(bySeqOf(rows));
    },
    get: async (id: TaskId) => {
      const r = await one("SELECT * FROM tasks WHERE id = ?", id);
      return r && taskFromRow(r);
    },
    list: async (filter: TaskListFilter = {}) => {
      const where: string[] = [];
      const params: unknown[] = [];
      if (filter.status) {
        where.push("status = ?");
        params.push(filter.status);
      }
      if (filter.agent_id) {
        where.push("agent_id = ?");
        params.push(filter.agent_id);
      }
      const sql = `SELECT * FROM tasks ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq LIMIT ?`;
      return (await all(sql, ...params, filter.limit ?? -1)).map(taskFromRow);
    },
    countByStatus: async () => taskCounts(await all("SELECT status, count(*) AS n FROM tasks GROUP BY status")),
    pruneFinished: (before) => run("DELETE FROM tasks WHERE finished_at IS NOT NULL AND finished_at < ?", before),
  };

  const schedules: ScheduleRepository = {
    put: async (s) => {
      await run(
        `INSERT OR REPLACE INTO schedules (id, agent_id, interval_ms, cron, timezone, next_run_at, last_run_at, missed_run_policy, enabled, payload, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ...scheduleParams(s),
      );
    },
    remove: async (id) => {
      await run("DELETE FROM schedules WHERE id = ?", id);
    },
    get: async (id) => {
      const r = await one("SELECT * FROM schedules WHERE id = ?", id);
      return r && scheduleFromRow(r);
    },
    list: async () => (await all("SELECT * FROM schedules ORDER BY next_run_at, id")).map(scheduleFromRow),
    due: async (now, limit) =>
      (await all("SELECT * FROM schedules WHERE enabled = 1 AND next_run_at <= ? ORDER BY next_run_at, id LIMIT ?", now, limit)).map(scheduleFromRow),
    advance: async (id, expectedNext, nextRunAt, lastRunAt, at) =>
      (await run("UPDATE schedules SET next_run_at = ?, last_run_at = ?, updated_at = ? WHERE id = ? AND next_run_at = ?", nextRunAt, lastRunAt, at, id, expectedNext)) > 0,
  };

  const messages: MessageRepository = {
    accept: async (m, at) => {
      const params = [m.id, m.from, m.to, m.topic, m.priority, m.ttl, Buffer.from(m.payload), at, at + m.ttl];
      const changes = await run(
        `INSERT INTO messages (id, sender, recipient, topic, priority, ttl, payload, status, attempts, accepted_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'Pending', 0, ?, ?) ON CONFLICT (id) DO NOTHING`,
        ...params,
      );
      return { accepted: changes > 0 };
    },
    claim: async (limit, at, to?: AgentId) => {
      const rows = await h.write(() =>
        to === undefined
          ? (h
              .stmt(
                "UPDATE messages SET status = 'InFlight', attempts = attempts + 1 WHERE seq IN (SELECT seq FROM messages WHERE status = 'Pending' AND expires_at > ? ORDER BY seq LIMIT ?) RETURNING *",
              )
              .all(at, limit) as Row[])
          : (h
              .stmt(
                "UPDATE messages SET status = 'InFlight', attempts = attempts + 1 WHERE seq IN (SELECT seq FROM messages WHERE status = 'Pending' AND recipient = ? AND expires_at > ? ORDER BY seq LIMIT ?) RETURNING *",
              )
              .all(to, at, limit) as Row[]),
      );
      return sortedMessages(rows);
    },
    ack: (id: MessageId, at) => messages.settle(id, "Delivered", at),
    settle: async (id, status, at) =>
      (await run("UPDATE messages SET status = ?, delivered_at = ? WHERE id = ? AND status IN ('Pending', 'InFlight')", status, at, id)) > 0,
    release: async (id) => (await run("UPDATE messages SET status = 'Pending' WHERE id = ? AND status = 'InFlight'", id)) > 0,
    requeueInFlight: () => run("UPDATE messages SET status = 'Pending' WHERE status = 'InFlight'"),
    takeExpired: async (now, limit) =>
      sortedMessages(
        await h.write(
          () =>
            h
              .stmt("DELETE FROM messages WHERE seq IN (SELECT seq FROM messages WHERE status = 'Pending' AND expires_at <= ? ORDER BY seq LIMIT ?) RETURNING *")
              .all(now, limit) as Row[],
        ),
      ),
    get: async (id) => {
      const r = await one("SELECT * FROM messages WHERE id = ?", id);
      return r && messageFromRow(r);
    },
    countByStatus: async () => {
      const out = zeroCounts(MESSAGE_STATUSES);
      for (const r of await all("SELECT status, count(*) AS n FROM messages GROUP BY status")) out[r.status as MessageStatus] = num(r.n);
      return out;
    },
    pruneDelivered: (before) => run("DELETE FROM messages WHERE status IN ('Delivered', 'Failed', 'Expired') AND delivered_at < ?", before),
  };

  const deadLetters: DeadLetterRepository = {
    add: async (d, capacity) => {
      const params = deadLetterParams(d);
      await h.write(() => {
        h.stmt("INSERT INTO dead_letters (id, kind, ref_id, agent_id, reason, attempts, payload, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING").run(...params);
        h.stmt("DELETE FROM dead_letters WHERE seq <= (SELECT seq FROM dead_letters ORDER BY seq DESC LIMIT 1 OFFSET ?)").run(capacity);
      });
    },
    list: async (limit) => (await all("SELECT * FROM dead_letters ORDER BY seq LIMIT ?", limit ?? -1)).map(deadLetterFromRow),
    remove: async (id) => (await run("DELETE FROM dead_letters WHERE id = ?", id)) > 0,
    count: async () => num((await one("SELECT count(*) AS n FROM dead_letters"))?.n),
  };

  const busKeys: BusKeyRepository = {
    put: async (agentId, sealed) => {
      const params = [agentId, Buffer.from(sealed), Date.now()];
      await run("INSERT INTO bus_keys (agent_id, sealed, created_at) VALUES (?, ?, ?) ON CONFLICT (agent_id) DO UPDATE SET sealed = excluded.sealed", ...params);
    },
    get: async (agentId) => {
      const sealed = (await one("SELECT sealed FROM bus_keys WHERE agent_id = ?", agentId))?.sealed as Buffer | undefined;
      return sealed && new Uint8Array(sealed);
    },
    remove: async (agentId) => {
      await run("DELETE FROM bus_keys WHERE agent_id = ?", agentId);
    },
    list: async () =>
      (await all("SELECT agent_id, sealed FROM bus_keys ORDER BY rowid")).map((r) => ({ agent_id: r.agent_id as AgentId, sealed: new Uint8Array(r.sealed as Buffer) })),
  };

  return { agents, allocations, tasks, schedules, messages, deadLetters, busKeys };
}

/** RETURNING gives rows in no promised order; callers get them in arrival order. */
function sortedMessages(rows: Row[]): StoredMessage[] {
  return [...rows].sort((a, b) => num(a.seq) - num(b.seq)).map(messageFromRow);
}

function bySeqOf(rows: Row[]): (a: StoredTask, b: StoredTask) => number {
  const seq = new Map(rows.map((r) => [String(r.id), num(r.seq)]));
  return (a, b) => (seq.get(a.id) ?? 0) - (seq.get(b.id) ?? 0);
}
