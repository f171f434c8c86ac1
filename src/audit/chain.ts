/**
 * The hash chain's byte-level definition. Everything that computes or checks a hash goes through here, so
 * the live trail, the stores' tamper tests and offline verification of an export agree byte for byte.
 */
import { createHash, hash } from "node:crypto";
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
  return Buffer.from(canonicalJson(r), "utf8");
}

function canonicalJson(r: RecordContent): string {
  const keys = Object.keys(r.metadata).sort();
  const meta = keys.map((k) => [k, r.metadata[k]]);
  return JSON.stringify([CANONICAL_VERSION, r.seq, r.id, r.timestamp, r.event_type, r.agent_id ?? null, r.details, meta]);
}

/**
 * `SHA-256(prev_hash || canonical bytes)` as hex; `prev_hash` enters as its 32 raw bytes. Built in one buffer
 * and hashed one-shot: this runs once per record on every append and every verification.
 */
export function recordHash(prev_hash: string, r: RecordContent): string {
  const json = canonicalJson(r);
  const buf = Buffer.allocUnsafe(32 + Buffer.byteLength(json, "utf8"));
  // A malformed (tampered) prev_hash decodes short: zero the rest so the result stays deterministic.
  const n = buf.write(prev_hash, 0, 32, "hex");
  if (n < 32) buf.fill(0, n, 32);
  buf.write(json, 32, "utf8");
  return hash("sha256", buf, "hex");
}

/** The bytes a checkpoint signature covers. */
export function checkpointBytes(cp: Omit<Checkpoint, "signature">): Buffer {
  return Buffer.from(`symbiont-audit-checkpoint-v1\n${cp.seq}\n${cp.hash}\n${cp.timestamp}\n${cp.key_id}`, "utf8");
}

export const HASH_RE = /^[0-9a-f]{64}$/;
