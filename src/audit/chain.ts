/**
 * The hash chain's byte-level definition. Everything that computes or checks a hash goes through here, so
 * the live trail, the stores' tamper tests and offline verification of an export agree byte for byte.
 */
import { createHash, hash } from "node:crypto";
import type { AuditRecord, ChainEntry, Checkpoint } from "./types.js";

/** Version tag inside the canonical bytes, so a future format can never collide with this one. */
const CANONICAL_VERSION = 1;

/** The fixed `prev_hash` of record 1: SHA-256 of "symbiont-audit-genesis-v1". */
export const GENESIS_HASH = createHash("sha256").update("symbiont-audit-genesis-v1").digest("hex");

/** The fields a record's hash covers (everything but its own hashes). */
export type RecordContent = Pick<AuditRecord, "seq" | "id" | "timestamp" | "event_type" | "agent_id" | "details" | "metadata">;

/**
 * Metadata as it enters the canonical bytes: JSON of the key-sorted `[key, value]` pairs. Stores keep this
 * exact text, so verification can rebuild the canonical bytes without parsing or sorting anything.
 */
export function metadataJson(metadata: Readonly<Record<string, string>>): string {
  // Built as text: the same bytes as `JSON.stringify` of the pairs array, without an array per pair.
  let pairs = "";
  for (const k of Object.keys(metadata).sort()) pairs += `${pairs ? "," : ""}[${JSON.stringify(k)},${JSON.stringify(metadata[k])}]`;
  return `[${pairs}]`;
}

/**
 * Canonical bytes: UTF-8 JSON of a fixed-order array; metadata as key-sorted pairs. The sequence number is
 * inside, so a record moved to another position no longer matches its hash.
 */
export function canonicalBytes(r: RecordContent): Buffer {
  return Buffer.from(canonicalJson(r), "utf8");
}

/** The canonical bytes as text: `JSON.stringify([1, seq, id, timestamp, event_type, agent_id, details, metadata pairs])`. */
export function canonicalJson(r: RecordContent): string {
  return `[${CANONICAL_VERSION},${r.seq}${canonicalTail(r, metadataJson(r.metadata))}`;
}

/** Everything of the canonical text after the sequence number (what moves with a record, see `tailOf`). */
export function canonicalTail(r: Omit<RecordContent, "seq" | "metadata">, metadata_json: string): string {
  const agent = r.agent_id === null || r.agent_id === undefined ? "null" : JSON.stringify(r.agent_id);
  return `,${JSON.stringify(r.id)},${JSON.stringify(r.timestamp)},${JSON.stringify(r.event_type)},${agent},${JSON.stringify(r.details)},${metadata_json}]`;
}

/** The canonical text of record `seq` whose tail (see `canonicalTail`) is `tail`. */
export function canonicalWithSeq(seq: number, tail: string): string {
  return `[${CANONICAL_VERSION},${seq}${tail}`;
}

/** The tail of a canonical text: what follows its sequence number. */
export function tailOf(canonical: string): string {
  return canonical.slice(canonical.indexOf(",", 3));
}

/** Reused for every hash: verification hashes a million records and a fresh buffer each would dominate. */
let scratch = Buffer.allocUnsafe(4096);

/**
 * `SHA-256(prev_hash || canonical)` as hex; `prev_hash` enters as its 32 raw bytes, the canonical text as
 * UTF-8. A malformed (tampered) prev_hash decodes short: the rest is zeroed so the result stays deterministic.
 */
export function hashCanonical(prev_hash: string, canonical: string): string {
  // A UTF-16 code unit never takes more than 3 UTF-8 bytes, so this bound spares measuring the string.
  const bound = 32 + canonical.length * 3;
  if (bound > scratch.length) scratch = Buffer.allocUnsafe(Math.max(bound, scratch.length * 2));
  const n = scratch.write(prev_hash, 0, 32, "hex");
  if (n < 32) scratch.fill(0, n, 32);
  const end = 32 + scratch.write(canonical, 32, "utf8");
  return hash("sha256", scratch.subarray(0, end), "hex");
}

/** `SHA-256(prev_hash || canonical bytes of r)` as hex. */
export function recordHash(prev_hash: string, r: RecordContent): string {
  return hashCanonical(prev_hash, canonicalJson(r));
}

/** A record as verification reads it. */
export function chainEntry(r: AuditRecord): ChainEntry {
  return { seq: r.seq, prev_hash: r.prev_hash, hash: r.hash, canonical: canonicalJson(r) };
}

/** The bytes a checkpoint signature covers. */
export function checkpointBytes(cp: Omit<Checkpoint, "signature">): Buffer {
  return Buffer.from(`symbiont-audit-checkpoint-v1\n${cp.seq}\n${cp.hash}\n${cp.timestamp}\n${cp.key_id}`, "utf8");
}

export const HASH_RE = /^[0-9a-f]{64}$/;
