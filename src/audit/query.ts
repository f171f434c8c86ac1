/**
 * Validating an `AuditQuery` into the `ResolvedAuditQuery` stores run, and the opaque page cursor.
 */
import { AuditError } from "../core/errors.js";
import { AgentId } from "../core/ids.js";
import { AUDIT_EVENT_TYPES, type AuditEventType, type AuditQuery, type AuditRecord, type ResolvedAuditQuery } from "./types.js";

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 10_000;

function invalid(message: string, details?: Record<string, unknown>): AuditError {
  return new AuditError("AUDIT_QUERY_INVALID", `Invalid audit query: ${message}`, details ? { details } : {});
}

/** A cursor is the base64url of "o:<order>:<seq>"; it only means anything with the same order. */
export function encodeCursor(order: "asc" | "desc", seq: number): string {
  return Buffer.from(`o:${order}:${seq}`, "utf8").toString("base64url");
}

function decodeCursor(cursor: string, order: "asc" | "desc"): number {
  const m = /^o:(asc|desc):(\d{1,15})$/.exec(Buffer.from(cursor, "base64url").toString("utf8"));
  if (!m) throw invalid("cursor is not one this trail issued", { cursor });
  if (m[1] !== order) throw invalid(`cursor was issued for order ${m[1]}, not ${order}`, { cursor });
  return Number(m[2]);
}

function isTime(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v) && Number.isInteger(v) && v >= 0;
}

export function isAuditEventType(v: unknown): v is AuditEventType {
  return typeof v === "string" && (AUDIT_EVENT_TYPES as readonly string[]).includes(v);
}

export function resolveQuery(query: AuditQuery = {}): ResolvedAuditQuery {
  const order = query.order ?? "asc";
  if (order !== "asc" && order !== "desc") throw invalid(`order must be "asc" or "desc"`, { order });
  const limit = query.limit ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
    throw invalid(`limit must be an integer from 1 to ${MAX_PAGE_SIZE}`, { limit });
  }
  if (query.from_time !== undefined && !isTime(query.from_time)) throw invalid("from_time must be epoch ms", { from_time: query.from_time });
  if (query.to_time !== undefined && !isTime(query.to_time)) throw invalid("to_time must be epoch ms", { to_time: query.to_time });
  if (query.from_time !== undefined && query.to_time !== undefined && query.from_time > query.to_time) {
    throw invalid("from_time is after to_time", { from_time: query.from_time, to_time: query.to_time });
  }
  for (const t of query.event_types ?? []) if (!isAuditEventType(t)) throw invalid(`unknown event type ${JSON.stringify(t)}`);
  const metadata = Object.entries(query.metadata ?? {});
  for (const [k, v] of metadata) if (typeof v !== "string") throw invalid(`metadata.${k} must be a string`);
  if (query.text !== undefined && typeof query.text !== "string") throw invalid("text must be a string");
  return {
    ...(query.from_time !== undefined ? { from_time: query.from_time } : {}),
    ...(query.to_time !== undefined ? { to_time: query.to_time } : {}),
    ...(query.event_types?.length ? { event_types: [...query.event_types] } : {}),
    ...(query.agent_id !== undefined ? { agent_id: AgentId.parse(query.agent_id) } : {}),
    ...(query.text ? { text: query.text } : {}),
    ...(query.cursor !== undefined ? { after_seq: decodeCursor(query.cursor, order) } : {}),
    metadata,
    limit,
    order,
  };
}

/** True when `q` narrows records beyond a time range (a filtered export cannot be chain-verified as a whole). */
export function isFiltered(q: ResolvedAuditQuery): boolean {
  return Boolean(q.event_types?.length || q.agent_id || q.metadata.length || q.text);
}

/** Escapes LIKE wildcards; stores use `ESCAPE '\'`. */
export function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** Same filter semantics in memory, for tests and for cross-checking stores. */
export function matchesQuery(r: AuditRecord, q: ResolvedAuditQuery): boolean {
  if (q.from_time !== undefined && r.timestamp < q.from_time) return false;
  if (q.to_time !== undefined && r.timestamp > q.to_time) return false;
  if (q.event_types && !q.event_types.includes(r.event_type)) return false;
  if (q.agent_id && r.agent_id !== q.agent_id) return false;
  for (const [k, v] of q.metadata) if (r.metadata[k] !== v) return false;
  if (q.text && !r.details.toLowerCase().includes(q.text.toLowerCase())) return false;
  return true;
}
