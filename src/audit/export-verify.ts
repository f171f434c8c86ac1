/**
 * Offline verification of an export file (`symbiont audit verify <file>`): no store, no runtime, only the
 * file and, ideally, the public key from a source the verifier trusts. Without `publicKeyPem` the key named
 * inside the export is used, which proves the export is self-consistent but not who signed it.
 *
 * NDJSON is read twice (checkpoints first, then records streamed) so large exports need little memory;
 * JSON is parsed whole; CSV carries no checkpoints, so only the chain is checked.
 */
import { createReadStream } from "node:fs";
import { open, readFile } from "node:fs/promises";
import { createInterface } from "node:readline";
import { AuditError } from "../core/errors.js";
import type { AgentId, AuditId } from "../core/ids.js";
import { chainEntry, HASH_RE } from "./chain.js";
import { CSV_COLUMNS, EXPORT_FORMAT, type ExportHeader } from "./export.js";
import { parseCsv } from "./csv.js";
import { keyIdOf, parsePublicKey } from "./signing.js";
import type { AuditEventType, AuditRecord, ChainEntry, Checkpoint, IntegrityReport } from "./types.js";
import { verifyChain } from "./verify.js";

export interface ExportVerification extends IntegrityReport {
  readonly format: "json" | "ndjson" | "csv";
  /** "given": checked against the caller's key; "export": against the key inside the file; "none": CSV. */
  readonly key_source: "given" | "export" | "none";
  readonly filtered: boolean;
}

function invalid(file: string, message: string, cause?: unknown): AuditError {
  return new AuditError("AUDIT_EXPORT_INVALID", `${file}: ${message}`, { details: { file }, ...(cause ? { cause } : {}) });
}

type Obj = Record<string, unknown>;

function toRecord(o: Obj, where: string): AuditRecord {
  const bad = (field: string): never => {
    throw new Error(`${where}: field ${field} is missing or malformed`);
  };
  if (!Number.isSafeInteger(o.seq)) bad("seq");
  if (typeof o.id !== "string") bad("id");
  if (!Number.isSafeInteger(o.timestamp)) bad("timestamp");
  if (typeof o.event_type !== "string") bad("event_type");
  if (o.agent_id !== null && typeof o.agent_id !== "string") bad("agent_id");
  if (typeof o.details !== "string") bad("details");
  const meta = o.metadata;
  if (typeof meta !== "object" || meta === null || Array.isArray(meta) || Object.values(meta).some((v) => typeof v !== "string")) bad("metadata");
  if (typeof o.prev_hash !== "string" || !HASH_RE.test(o.prev_hash)) bad("prev_hash");
  if (typeof o.hash !== "string" || !HASH_RE.test(o.hash)) bad("hash");
  return {
    seq: o.seq as number,
    id: o.id as AuditId,
    timestamp: o.timestamp as number,
    event_type: o.event_type as AuditEventType,
    agent_id: o.agent_id as AgentId | null,
    details: o.details as string,
    metadata: meta as Record<string, string>,
    prev_hash: o.prev_hash as string,
    hash: o.hash as string,
  };
}

function toCheckpoint(o: Obj, where: string): Checkpoint {
  if (!Number.isSafeInteger(o.seq) || typeof o.hash !== "string" || !Number.isSafeInteger(o.timestamp) || typeof o.key_id !== "string" || typeof o.signature !== "string") {
    throw new Error(`${where}: malformed checkpoint`);
  }
  return { seq: o.seq as number, hash: o.hash, timestamp: o.timestamp as number, key_id: o.key_id, signature: o.signature };
}

function checkHeader(h: unknown, where: string): ExportHeader {
  const o = h as Partial<ExportHeader> | undefined;
  if (!o || o.format !== EXPORT_FORMAT) throw new Error(`${where}: not a ${EXPORT_FORMAT} header`);
  if (typeof o.public_key !== "string") throw new Error(`${where}: header has no public_key`);
  return o as ExportHeader;
}

async function sniff(file: string): Promise<"json" | "ndjson" | "csv"> {
  const fh = await open(file, "r");
  try {
    const { buffer, bytesRead } = await fh.read(Buffer.alloc(256), 0, 256, 0);
    const start = buffer.subarray(0, bytesRead).toString("utf8").trimStart();
    if (start.startsWith('{"type":"header"')) return "ndjson";
    if (start.startsWith('{"header"')) return "json";
    if (start.startsWith(`${CSV_COLUMNS.join(",")}`)) return "csv";
    throw new Error("not a JSON, NDJSON or CSV audit export");
  } finally {
    await fh.close();
  }
}

async function* ndjsonLines(file: string): AsyncIterable<{ obj: Obj; line: number }> {
  const rl = createInterface({ input: createReadStream(file, "utf8"), crlfDelay: Infinity });
  let line = 0;
  for await (const text of rl) {
    line++;
    if (!text.trim()) continue;
    let obj: Obj;
    try {
      obj = JSON.parse(text) as Obj;
    } catch (err) {
      throw new Error(`line ${line}: not JSON (${(err as Error).message})`);
    }
    yield { obj, line };
  }
}

async function* csvRecords(file: string): AsyncIterable<AuditRecord> {
  let n = 0;
  for await (const row of parseCsv(createReadStream(file, "utf8") as AsyncIterable<string>)) {
    n++;
    if (n === 1) {
      if (row.join(",") !== CSV_COLUMNS.join(",")) throw new Error("row 1: unexpected CSV columns");
      continue;
    }
    if (row.length !== CSV_COLUMNS.length) throw new Error(`row ${n}: expected ${CSV_COLUMNS.length} fields, got ${row.length}`);
    const [seq, id, ts, event_type, agent_id, details, metadata, prev_hash, hash] = row as string[];
    let meta: unknown;
    try {
      meta = JSON.parse(metadata as string);
    } catch {
      throw new Error(`row ${n}: metadata is not JSON`);
    }
    yield toRecord(
      { seq: Number(seq), id, timestamp: Number(ts), event_type, agent_id: agent_id === "" ? null : agent_id, details, metadata: meta, prev_hash, hash },
      `row ${n}`,
    );
  }
}

const CHUNK = 5000;

async function* inChunks(records: AsyncIterable<AuditRecord> | readonly AuditRecord[]): AsyncIterable<readonly ChainEntry[]> {
  if (Array.isArray(records)) {
    yield records.map(chainEntry);
    return;
  }
  let chunk: ChainEntry[] = [];
  for await (const r of records as AsyncIterable<AuditRecord>) {
    chunk.push(chainEntry(r));
    if (chunk.length >= CHUNK) {
      yield chunk;
      chunk = [];
    }
  }
  if (chunk.length) yield chunk;
}

/** Verifies an export file. Tampering yields a report with `valid: false`; an unreadable file throws AUDIT_EXPORT_INVALID. */
export async function verifyExportFile(file: string, options: { publicKeyPem?: string } = {}): Promise<ExportVerification> {
  let format: "json" | "ndjson" | "csv";
  try {
    format = await sniff(file);
  } catch (err) {
    throw invalid(file, (err as Error).message, err);
  }
  try {
    let header: ExportHeader | undefined;
    let checkpoints: Checkpoint[] = [];
    let records: AsyncIterable<AuditRecord> | readonly AuditRecord[];
    if (format === "json") {
      const doc = JSON.parse(await readFile(file, "utf8")) as { header?: unknown; records?: unknown; checkpoints?: unknown };
      header = checkHeader(doc.header, "header");
      if (!Array.isArray(doc.records) || !Array.isArray(doc.checkpoints)) throw new Error("records or checkpoints missing");
      const list = (doc.records as Obj[]).map((r, i) => toRecord(r, `records[${i}]`));
      checkpoints = (doc.checkpoints as Obj[]).map((c, i) => toCheckpoint(c, `checkpoints[${i}]`));
      records = list;
    } else if (format === "ndjson") {
      for await (const { obj, line } of ndjsonLines(file)) {
        if (line === 1) header = checkHeader(obj.type === "header" ? obj : undefined, "line 1");
        else if (obj.type === "checkpoint") checkpoints.push(toCheckpoint(obj, `line ${line}`));
        else if (obj.type !== "record") throw new Error(`line ${line}: unknown line type ${JSON.stringify(obj.type)}`);
      }
      records = (async function* () {
        for await (const { obj, line } of ndjsonLines(file)) if (obj.type === "record") yield toRecord(obj, `line ${line}`);
      })();
    } else {
      records = csvRecords(file);
    }
    checkpoints.sort((a, b) => a.seq - b.seq);
    const keyPem = options.publicKeyPem ?? header?.public_key;
    let publicKey;
    try {
      publicKey = keyPem ? parsePublicKey(keyPem) : undefined;
    } catch (err) {
      // A bad key of the caller's is their error; a bad key inside the file makes the file invalid.
      if (options.publicKeyPem) throw err;
      throw invalid(file, "the header's public_key is not an Ed25519 SPKI PEM", err);
    }
    const filtered = header?.filtered ?? false;
    const report = await verifyChain(inChunks(records), {
      checkpoints,
      ...(publicKey ? { publicKey } : {}),
      keyId: publicKey ? keyIdOf(publicKey) : "none",
      toEnd: true,
      contiguous: !filtered,
    });
    return { ...report, format, key_source: options.publicKeyPem ? "given" : header ? "export" : "none", filtered };
  } catch (err) {
    if (err instanceof AuditError) throw err;
    throw invalid(file, (err as Error).message, err);
  }
}
