/**
 * Row ⇄ record mapping shared by the SQL stores. Both store JSON in text columns and integers in 64-bit
 * columns (which PostgreSQL's driver returns as strings, hence `num`), so one mapping serves both.
 */
import type { AgentId, MessageId, TaskId } from "../core/ids.js";
import type { AgentConfig, AgentState, Priority, ResourceAllocation } from "../core/types.js";
import type {
  DeadLetter,
  MessageStatus,
  NewTask,
  MissedRunPolicy,
  StoredAgent,
  StoredMessage,
  StoredSchedule,
  StoredTask,
  TaskStatus,
} from "./types.js";
import { TASK_STATUSES } from "./types.js";

export type Row = Record<string, unknown>;

export function num(v: unknown): number {
  return typeof v === "number" ? v : Number(v);
}

function numOrNull(v: unknown): number | null {
  return v === null || v === undefined ? null : num(v);
}

function strOrNull(v: unknown): string | null {
  return v === null || v === undefined ? null : String(v);
}

/** JSON text for a column; `undefined` is stored as NULL. */
export function toJson(v: unknown): string | null {
  return v === undefined ? null : JSON.stringify(v);
}

function fromJson(v: unknown): unknown {
  return v === null || v === undefined ? undefined : JSON.parse(String(v));
}

export function agentParams(a: StoredAgent): unknown[] {
  return [a.id, JSON.stringify(a.config), a.state, a.created_at, a.last_updated, a.execution_count, a.error_count, a.restart_count];
}

export function agentFromRow(r: Row): StoredAgent {
  return {
    id: r.id as AgentId,
    config: Object.freeze(JSON.parse(String(r.config))) as AgentConfig,
    state: r.state as AgentState,
    created_at: num(r.created_at),
    last_updated: num(r.last_updated),
    execution_count: num(r.execution_count),
    error_count: num(r.error_count),
    restart_count: num(r.restart_count),
  };
}

export function allocationParams(a: ResourceAllocation): unknown[] {
  return [a.agent_id, a.allocated_at, JSON.stringify(a.limits), JSON.stringify(a.current_usage)];
}

export function allocationFromRow(r: Row): ResourceAllocation {
  return {
    agent_id: r.agent_id as AgentId,
    allocated_at: num(r.allocated_at),
    limits: JSON.parse(String(r.limits)) as ResourceAllocation["limits"],
    current_usage: JSON.parse(String(r.current_usage)) as ResourceAllocation["current_usage"],
  };
}

export function taskFromRow(r: Row): StoredTask {
  const payload = fromJson(r.payload);
  return {
    id: r.id as TaskId,
    agent_id: r.agent_id as AgentId,
    priority: r.priority as Priority,
    scheduled_time: num(r.scheduled_time),
    timeout: num(r.timeout),
    retry_count: num(r.retry_count),
    ...(payload === undefined ? {} : { payload }),
    status: r.status as TaskStatus,
    attempts: num(r.attempts),
    owner: strOrNull(r.owner),
    result: fromJson(r.result),
    error: strOrNull(r.error),
    created_at: num(r.created_at),
    updated_at: num(r.updated_at),
    started_at: numOrNull(r.started_at),
    finished_at: numOrNull(r.finished_at),
  };
}

/**
 * The row a fresh accept writes, without reading it back. `payloadJson` is the text that was stored (parsed
 * back, so the caller gets a copy of what was stored rather than its own object).
 */
export function newTask(t: NewTask, at: number, payloadJson: string | null): StoredTask {
  return {
    id: t.id,
    agent_id: t.agent_id,
    priority: t.priority,
    scheduled_time: t.scheduled_time,
    timeout: t.timeout,
    retry_count: t.retry_count,
    payload: payloadJson === null ? undefined : (JSON.parse(payloadJson) as unknown),
    status: "Pending",
    attempts: 0,
    owner: null,
    result: undefined,
    error: null,
    created_at: at,
    updated_at: at,
    started_at: null,
    finished_at: null,
  };
}

/** Task rows in dispatch order: priority, then scheduled_time, then arrival. */
export function byUrgency(a: Row, b: Row): number {
  return num(b.priority_value) - num(a.priority_value) || num(a.scheduled_time) - num(b.scheduled_time) || num(a.seq) - num(b.seq);
}

export function scheduleParams(s: StoredSchedule): unknown[] {
  return [
    s.id,
    s.agent_id,
    s.interval,
    s.cron,
    s.timezone,
    s.next_run_at,
    s.last_run_at,
    s.missed_run_policy,
    s.enabled ? 1 : 0,
    toJson(s.payload),
    s.created_at,
    s.updated_at,
  ];
}

export function scheduleFromRow(r: Row): StoredSchedule {
  const payload = fromJson(r.payload);
  return {
    id: String(r.id),
    agent_id: r.agent_id as AgentId,
    interval: numOrNull(r.interval_ms),
    cron: strOrNull(r.cron),
    timezone: strOrNull(r.timezone),
    next_run_at: num(r.next_run_at),
    last_run_at: numOrNull(r.last_run_at),
    missed_run_policy: r.missed_run_policy as MissedRunPolicy,
    enabled: Boolean(r.enabled),
    ...(payload === undefined ? {} : { payload }),
    created_at: num(r.created_at),
    updated_at: num(r.updated_at),
  };
}

export function messageFromRow(r: Row): StoredMessage {
  const payload = r.payload as Uint8Array;
  return {
    id: r.id as MessageId,
    from: r.sender as AgentId,
    to: r.recipient as AgentId,
    topic: String(r.topic),
    priority: r.priority as Priority,
    ttl: num(r.ttl),
    payload: new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength),
    status: r.status as MessageStatus,
    attempts: num(r.attempts),
    accepted_at: num(r.accepted_at),
    expires_at: num(r.expires_at),
    delivered_at: numOrNull(r.delivered_at),
  };
}

export function deadLetterParams(d: DeadLetter): unknown[] {
  return [d.id, d.kind, d.ref_id, d.agent_id, d.reason, d.attempts, toJson(d.payload), d.created_at];
}

export function deadLetterFromRow(r: Row): DeadLetter {
  const payload = fromJson(r.payload);
  return {
    id: String(r.id),
    kind: r.kind as DeadLetter["kind"],
    ref_id: String(r.ref_id),
    agent_id: (r.agent_id ?? null) as AgentId | null,
    reason: String(r.reason),
    attempts: num(r.attempts),
    ...(payload === undefined ? {} : { payload }),
    created_at: num(r.created_at),
  };
}

/** A count of zero for every status, so callers see each key even when nothing is in it. */
export function zeroCounts<S extends string>(statuses: readonly S[]): Record<S, number> {
  return Object.fromEntries(statuses.map((s) => [s, 0])) as Record<S, number>;
}

export function taskCounts(rows: readonly Row[]): Record<TaskStatus, number> {
  const out = zeroCounts(TASK_STATUSES);
  for (const r of rows) out[r.status as TaskStatus] = num(r.n);
  return out;
}
