/**
 * The hash chain's byte-level definition. Everything that computes or checks a hash goes through here, so
 * the live trail, the stores' tamper tests and offline verification of an export agree byte for byte.
 */
import { createHash } from "node:crypto";
import type { AuditRecord, Checkpoint } from "./types.js";

/** Version tag inside the canonical bytes, so a future format can never collide with this one. */
const CANONICAL_VERSION = 1;

/** The fixed `prev_hash` of record 1: SHA-256 of "symbiont-audit-genesis-v1". */
export const GENESIS_HASH = createHash("sha256").update("symbiont-audit-genesis-v1").digest("hex");

/** The fields a record's hash covers (everything but its own hashes). */
export type RecordContent = Pick<AuditRecord, "seq" | "id" | "timestamp" | "event_type" | "agent_id" | "details" | "metadata">;

/**
 * Canonical bytes: UTF-8 JSON of a fixed-order array; metadata as key-sorted pairs. The sequence number is
 * inside, so a record moved to another position no longer matches its hash.
 */
export function canonicalBytes(r: RecordContent): Buffer {
  const keys = Object.keys(r.metadata).sort();
  const meta = keys.map((k) => [k, r.metadata[k]]);
  return Buffer.from(
    JSON.stringify([CANONICAL_VERSION, r.seq, r.id, r.timestamp, r.event_type, r.agent_id ?? null, r.details, meta]),
    "utf8",
  );
}

/** `SHA-256(prev_hash || canonical bytes)` as hex; `prev_hash` enters as its 32 raw bytes. */
export function recordHash(prev_hash: string, r: RecordContent): string {
  return createHash("sha256").update(Buffer.from(prev_hash, "hex")).update(canonicalBytes(r)).digest("hex");
}

/** The bytes a checkpoint signature covers. */
export function checkpointBytes(cp: Omit<Checkpoint, "signature">): Buffer {
  return Buffer.from(`symbiont-audit-checkpoint-v1\n${cp.seq}\n${cp.hash}\n${cp.timestamp}\n${cp.key_id}`, "utf8");
}

export const HASH_RE = /^[0-9a-f]{64}$/;
