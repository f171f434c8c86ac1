/**
 * The repositories of PostgresStateStore. Reads use the pool; writes go through the store's group committer
 * on the batch's connection, with parameters captured when the write is issued.
 */
import type pg from "pg";
import type { AgentId } from "../core/ids.js";
import { AGENT_STATES, PRIORITY_VALUE, type AgentState } from "../core/types.js";
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
  AllocationRepository,
  BusKeyRepository,
  FinalMessageStatus,
  DeadLetterRepository,
  MessageRepository,
  MessageStatus,
  NewTask,
  ScheduleRepository,
  StoredMessage,
  StoredTask,
  TaskListFilter,
  TaskRepository,
} from "./types.js";

/**
 * How a write of one row can join others of its kind in one statement: `run` does many items at once and
 * returns one result per item, exactly what the single writes would have returned one after another.
 */
export interface Bulk<I, R> {
  readonly kind: string;
  /** The row the write touches; writes on the same row never share a statement. */
  readonly key: string;
  readonly item: I;
  run(client: pg.PoolClient, items: readonly I[]): Promise<R[]>;
}

/** What the repositories need from the store. */
export interface PgHandle {
  write<T>(fn: (client: pg.PoolClient) => Promise<T>, bulk?: Bulk<unknown, T>): Promise<T>;
  read(sql: string, params?: readonly unknown[]): Promise<Row[]>;
}

/** Column arrays for `unnest`: one array per field of the items. */
function columns<I>(items: readonly I[], fields: readonly ((item: I) => unknown)[]): unknown[][] {
  return fields.map((f) => items.map(f));
}

interface AcceptItem {
  readonly t: NewTask;
  readonly at: number;
}
interface ClaimItem {
  readonly id: string;
  readonly owner: string;
  readonly at: number;
}
interface FinishItem {
  readonly id: string;
  readonly status: string;
  readonly result: string | null;
  readonly error: string | null;
  readonly at: number;
}
interface MessageItem {
  readonly params: unknown[];
}
interface AckItem {
  readonly id: string;
  readonly at: number;
  readonly status: FinalMessageStatus;
}

const acceptBulk = async (c: pg.PoolClient, items: readonly AcceptItem[]): Promise<{ accepted: boolean; task: StoredTask }[]> => {
  const cols = columns(items, [
    (i) => i.t.id,
    (i) => i.t.agent_id,
    (i) => i.t.priority,
    (i) => PRIORITY_VALUE[i.t.priority],
    (i) => i.t.scheduled_time,
    (i) => i.t.timeout,
    (i) => i.t.retry_count,
    (i) => toJson(i.t.payload),
    (i) => i.at,
  ]);
  const inserted = await c.query(
    `INSERT INTO tasks (id, agent_id, priority, priority_value, scheduled_time, timeout, retry_count, payload, status, attempts, created_at, updated_at)
     SELECT id, agent_id, priority, pv, st, tmo, rc, payload, 'Pending', 0, at, at
     FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::bigint[], $6::bigint[], $7::int[], $8::text[], $9::bigint[])
       WITH ORDINALITY AS v(id, agent_id, priority, pv, st, tmo, rc, payload, at, ord)
     ORDER BY ord
     ON CONFLICT (id) DO NOTHING RETURNING id`,
    cols,
  );
  const fresh = new Set(inserted.rows.map((r: Row) => String(r.id)));
  const others = items.filter((i) => !fresh.has(i.t.id)).map((i) => i.t.id);
  const existing = new Map<string, Row>();
  if (others.length) for (const r of (await c.query("SELECT * FROM tasks WHERE id = ANY($1::text[])", [others])).rows as Row[]) existing.set(String(r.id), r);
  return items.map((i, k) =>
    fresh.has(i.t.id) ? { accepted: true, task: newTask(i.t, i.at, cols[7]![k] as string | null) } : { accepted: false, task: taskFromRow(existing.get(i.t.id)!) },
  );
};

const claimBulk = async (c: pg.PoolClient, items: readonly ClaimItem[]): Promise<(StoredTask | undefined)[]> => {
  const { rows } = await c.query(
    `UPDATE tasks t SET status = 'Running', attempts = t.attempts + 1, owner = v.owner, started_at = v.at, updated_at = v.at
     FROM unnest($1::text[], $2::text[], $3::bigint[]) AS v(id, owner, at) WHERE t.id = v.id AND t.status = 'Pending' RETURNING t.*`,
    columns(items, [(i) => i.id, (i) => i.owner, (i) => i.at]),
  );
  const byId = new Map((rows as Row[]).map((r) => [String(r.id), r]));
  return items.map((i) => {
    const r = byId.get(i.id);
    return r && taskFromRow(r);
  });
};

const finishBulk = async (c: pg.PoolClient, items: readonly FinishItem[]): Promise<boolean[]> => {
  const { rows } = await c.query(
    `UPDATE tasks t SET status = v.status, result = v.result, error = v.error, finished_at = v.at, updated_at = v.at
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[]) AS v(id, status, result, error, at)
     WHERE t.id = v.id AND t.status = 'Running' RETURNING t.id`,
    columns(items, [(i) => i.id, (i) => i.status, (i) => i.result, (i) => i.error, (i) => i.at]),
  );
  const done = new Set((rows as Row[]).map((r) => String(r.id)));
  return items.map((i) => done.has(i.id));
};

const messageAcceptBulk = async (c: pg.PoolClient, items: readonly MessageItem[]): Promise<number[]> => {
  const cols = [0, 1, 2, 3, 4, 5, 6, 7, 8].map((k) => items.map((i) => i.params[k]));
  const { rows } = await c.query(
    `INSERT INTO messages (id, sender, recipient, topic, priority, ttl, payload, status, attempts, accepted_at, expires_at)
     SELECT id, sender, recipient, topic, priority, ttl, payload, 'Pending', 0, at, exp
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bytea[], $8::bigint[], $9::bigint[])
       WITH ORDINALITY AS v(id, sender, recipient, topic, priority, ttl, payload, at, exp, ord)
     ORDER BY ord
     ON CONFLICT (id) DO NOTHING RETURNING id`,
    cols,
  );
  const fresh = new Set((rows as Row[]).map((r) => String(r.id)));
  return items.map((i) => (fresh.has(String(i.params[0])) ? 1 : 0));
};

const ackBulk = async (c: pg.PoolClient, items: readonly AckItem[]): Promise<number[]> => {
  const { rows } = await c.query(
    `UPDATE messages m SET status = v.status, delivered_at = v.at FROM unnest($1::text[], $2::bigint[], $3::text[]) AS v(id, at, status)
     WHERE m.id = v.id AND m.status IN ('Pending', 'InFlight') RETURNING m.id`,
    columns(items, [(i) => i.id, (i) => i.at, (i) => i.status]),
  );
  const acked = new Set((rows as Row[]).map((r) => String(r.id)));
  return items.map((i) => (acked.has(i.id) ? 1 : 0));
};

/** Wraps a bulk runner so the store can hold items of any kind. */
function bulk<I, R>(kind: string, key: string, item: I, run: (c: pg.PoolClient, items: readonly I[]) => Promise<R[]>): Bulk<unknown, R> {
  return { kind, key, item, run: run as (c: pg.PoolClient, items: readonly unknown[]) => Promise<R[]> };
}

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
      const item: AcceptItem = { t, at };
      return h.write(async (c) => (await acceptBulk(c, [item]))[0]!, bulk("task.accept", t.id, item, acceptBulk));
    },
    claim: (id, owner, at) => {
      const item: ClaimItem = { id, owner, at };
      return h.write(async (c) => (await claimBulk(c, [item]))[0], bulk("task.claim", id, item, claimBulk));
    },
    claimNext: async (owner, now, limit) =>
      (
        await returning(
          `UPDATE tasks SET status = 'Running', attempts = attempts + 1, owner = $1, started_at = $2, updated_at = $2 WHERE seq IN
             (SELECT seq FROM tasks WHERE status = 'Pending' AND scheduled_time <= $2 ORDER BY priority_value DESC, scheduled_time, seq LIMIT $3 FOR UPDATE SKIP LOCKED)
           RETURNING *`,
          [owner, now, limit],
        )
      )
        .sort(byUrgency)
        .map(taskFromRow),
    nextPending: async (now, limit) =>
      (await h.read("SELECT * FROM tasks WHERE status = 'Pending' AND scheduled_time <= $1 ORDER BY priority_value DESC, scheduled_time, seq LIMIT $2", [now, limit])).map(
        taskFromRow,
      ),
    finish: (id, outcome, at) => {
      const item: FinishItem = {
        id,
        status: outcome.status,
        result: outcome.status === "Completed" ? toJson(outcome.result) : null,
        error: outcome.status === "Completed" ? null : outcome.error,
        at,
      };
      return h.write(async (c) => (await finishBulk(c, [item]))[0]!, bulk("task.finish", id, item, finishBulk));
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
    reassign: async (id, agentId, at) =>
      (await run("UPDATE tasks SET agent_id = $1, updated_at = $2 WHERE id = $3 AND status IN ('Pending', 'Running')", [agentId, at, id])) > 0,
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
      if (filter.status) {
        params.push(filter.status);
        where.push(`status = $${params.length}`);
      }
      if (filter.agent_id) {
        params.push(filter.agent_id);
        where.push(`agent_id = $${params.length}`);
      }
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
      const item: MessageItem = { params: [m.id, m.from, m.to, m.topic, m.priority, m.ttl, Buffer.from(m.payload), at, at + m.ttl] };
      const n = await h.write(async (c) => (await messageAcceptBulk(c, [item]))[0]!, bulk("message.accept", m.id, item, messageAcceptBulk));
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
    ack: (id, at) => messages.settle(id, "Delivered", at),
    settle: async (id, status, at) => {
      const item: AckItem = { id, at, status };
      return (await h.write(async (c) => (await ackBulk(c, [item]))[0]!, bulk("message.ack", id, item, ackBulk))) > 0;
    },
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
    pruneDelivered: (before) => run("DELETE FROM messages WHERE status IN ('Delivered', 'Failed', 'Expired') AND delivered_at < $1", [before]),
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

  const busKeys: BusKeyRepository = {
    put: async (agentId, sealed) => {
      await run(
        "INSERT INTO bus_keys (agent_id, sealed, created_at) VALUES ($1, $2, $3) ON CONFLICT (agent_id) DO UPDATE SET sealed = excluded.sealed",
        [agentId, Buffer.from(sealed), Date.now()],
      );
    },
    get: async (agentId) => {
      const sealed = (await one("SELECT sealed FROM bus_keys WHERE agent_id = $1", [agentId]))?.sealed as Buffer | undefined;
      return sealed && new Uint8Array(sealed);
    },
    remove: async (agentId) => {
      await run("DELETE FROM bus_keys WHERE agent_id = $1", [agentId]);
    },
    list: async () =>
      (await h.read("SELECT agent_id, sealed FROM bus_keys ORDER BY created_at, agent_id")).map((r) => ({ agent_id: r.agent_id as AgentId, sealed: new Uint8Array(r.sealed as Buffer) })),
  };

  return { agents, allocations, tasks, schedules, messages, deadLetters, busKeys };
}

/** RETURNING gives rows in no promised order; callers get them in arrival order. */
function sortedMessages(rows: Row[]): StoredMessage[] {
  return [...rows].sort((a, b) => num(a.seq) - num(b.seq)).map(messageFromRow);
}
