/**
 * Streaming exports in three formats. Records are always in sequence order, and every format carries the
 * chain fields (`seq`, `prev_hash`, `hash`) so the export can be verified offline (`export-verify.ts`).
 *
 * - JSON: `{"header": {...}, "records": [...], "checkpoints": [...]}`.
 * - NDJSON: one object per line, `{"type":"header",...}`, then `{"type":"record",...}` lines, then
 *   `{"type":"checkpoint",...}` lines.
 * - CSV: a header row then one row per record (metadata as a JSON object); no checkpoints, so offline
 *   verification of a CSV checks the chain but no signature.
 *
 * The header names the public key; whoever verifies should compare it (or pass their own copy) since a
 * forger could replace it. Exports include every record matching the query's filters: `limit`, `cursor`
 * and `order` do not apply.
 */
import { csvRow } from "./csv.js";
import { isFiltered } from "./query.js";
import type { AuditRecord, AuditStore, Checkpoint, ExportFormat, ResolvedAuditQuery } from "./types.js";

export const EXPORT_FORMAT = "symbiont-audit-export";
export const EXPORT_VERSION = 1;
export const CSV_COLUMNS = ["seq", "id", "timestamp", "event_type", "agent_id", "details", "metadata", "prev_hash", "hash"] as const;

const PAGE = 5000;

export interface ExportInfo {
  readonly publicKeyPem: string;
  readonly keyId: string;
  /** Epoch ms of the export. */
  readonly now: number;
}

export interface ExportHeader {
  readonly format: typeof EXPORT_FORMAT;
  readonly version: number;
  readonly exported_at: number;
  readonly key_id: string;
  readonly public_key: string;
  /** True when filters beyond a time range were applied: records are not contiguous. */
  readonly filtered: boolean;
  readonly query: Record<string, unknown>;
}

/** A record as exported: fixed field order. */
function recordJson(r: AuditRecord): string {
  return JSON.stringify({
    seq: r.seq,
    id: r.id,
    timestamp: r.timestamp,
    event_type: r.event_type,
    agent_id: r.agent_id,
    details: r.details,
    metadata: r.metadata,
    prev_hash: r.prev_hash,
    hash: r.hash,
  });
}

function checkpointJson(c: Checkpoint): string {
  return JSON.stringify({ seq: c.seq, hash: c.hash, timestamp: c.timestamp, key_id: c.key_id, signature: c.signature });
}

function header(info: ExportInfo, q: ResolvedAuditQuery): ExportHeader {
  const filters: Record<string, unknown> = {};
  for (const k of ["from_time", "to_time", "event_types", "agent_id", "text"] as const) if (q[k] !== undefined) filters[k] = q[k];
  if (q.metadata.length) filters.metadata = Object.fromEntries(q.metadata);
  return {
    format: EXPORT_FORMAT,
    version: EXPORT_VERSION,
    exported_at: info.now,
    key_id: info.keyId,
    public_key: info.publicKeyPem,
    filtered: isFiltered(q),
    query: filters,
  };
}

async function* pages(store: AuditStore, q: ResolvedAuditQuery): AsyncIterable<AuditRecord[]> {
  let after: number | undefined;
  for (;;) {
    const rows = await store.query({ ...q, order: "asc", limit: PAGE, ...(after !== undefined ? { after_seq: after } : {}) });
    if (!rows.length) return;
    yield rows;
    if (rows.length < PAGE) return;
    after = (rows[rows.length - 1] as AuditRecord).seq;
  }
}

/** Streams an export as text chunks (one or a few per page of records). */
export async function* exportRecords(
  store: AuditStore,
  info: ExportInfo,
  query: ResolvedAuditQuery,
  format: ExportFormat,
): AsyncIterable<string> {
  // Exports take every matching record in sequence order: the query's paging does not apply.
  const q: ResolvedAuditQuery = { ...query, limit: PAGE, order: "asc", after_seq: undefined };
  let first = 0;
  let last = 0;
  if (format === "csv") {
    yield csvRow(CSV_COLUMNS);
    for await (const rows of pages(store, q)) {
      yield rows
        .map((r) =>
          csvRow([String(r.seq), r.id, String(r.timestamp), r.event_type, r.agent_id ?? "", r.details, JSON.stringify(r.metadata), r.prev_hash, r.hash]),
        )
        .join("");
    }
    return;
  }
  const ndjson = format === "ndjson";
  const head = header(info, q);
  yield ndjson ? `${JSON.stringify({ type: "header", ...head })}\n` : `{"header":${JSON.stringify(head)},\n"records":[`;
  for await (const rows of pages(store, q)) {
    if (!first) first = (rows[0] as AuditRecord).seq;
    const body = rows.map((r) => (ndjson ? `{"type":"record",${recordJson(r).slice(1)}\n` : recordJson(r)));
    yield ndjson ? body.join("") : `${last ? ",\n" : "\n"}${body.join(",\n")}`;
    last = (rows[rows.length - 1] as AuditRecord).seq;
  }
  const checkpoints = last ? await store.checkpoints(Math.max(0, first - 1), last) : [];
  if (ndjson) {
    yield checkpoints.map((c) => `{"type":"checkpoint",${checkpointJson(c).slice(1)}\n`).join("");
  } else {
    yield `\n],\n"checkpoints":[${checkpoints.map((c) => `\n${checkpointJson(c)}`).join(",")}\n]}\n`;
  }
}

/** NDJSON of records from_seq..to_seq with the checkpoints from from_seq-1 to to_seq (retention archives). */
export async function* exportSeqRange(store: AuditStore, info: ExportInfo, from_seq: number, to_seq: number): AsyncIterable<string> {
  const head: ExportHeader = {
    format: EXPORT_FORMAT,
    version: EXPORT_VERSION,
    exported_at: info.now,
    key_id: info.keyId,
    public_key: info.publicKeyPem,
    filtered: false,
    query: { from_seq, to_seq },
  };
  yield `${JSON.stringify({ type: "header", ...head })}\n`;
  for await (const chunk of store.scan(from_seq, to_seq)) {
    yield chunk.map((r) => `{"type":"record",${recordJson(r).slice(1)}\n`).join("");
  }
  const checkpoints = await store.checkpoints(Math.max(0, from_seq - 1), to_seq);
  yield checkpoints.map((c) => `{"type":"checkpoint",${checkpointJson(c).slice(1)}\n`).join("");
}
