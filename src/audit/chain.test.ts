import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { AgentId, AuditId } from "../core/ids.js";
import { canonicalBytes, canonicalJson, canonicalTail, canonicalWithSeq, GENESIS_HASH, hashCanonical, metadataJson, recordHash, tailOf } from "./chain.js";

const record = {
  seq: 7,
  id: "0b7c1f8e-3a52-4c1e-9d0f-6f7a8b9c0d1e" as AuditId,
  timestamp: 1_767_225_600_000,
  event_type: "PolicyViolation" as const,
  agent_id: "5f0c2a9e-1b3d-4e6f-8a7b-9c0d1e2f3a4b" as AgentId,
  details: 'denied "sandbox.network", żółw',
  metadata: { zeta: "1", alpha: "2" },
};

describe("audit chain - the hash definition", () => {
  it("chain - genesis is SHA-256 of the fixed label", () => {
    expect(GENESIS_HASH).toBe(createHash("sha256").update("symbiont-audit-genesis-v1").digest("hex"));
  });

  it("chain - canonical bytes are the fixed-order JSON array with key-sorted metadata pairs", () => {
    expect(canonicalBytes(record).toString("utf8")).toBe(
      `[1,7,"${record.id}",1767225600000,"PolicyViolation","${record.agent_id}","denied \\"sandbox.network\\", żółw",[["alpha","2"],["zeta","1"]]]`,
    );
  });

  it("chain - hash is SHA-256(raw prev_hash bytes || canonical bytes), independent of metadata key order", () => {
    const expected = createHash("sha256").update(Buffer.from(GENESIS_HASH, "hex")).update(canonicalBytes(record)).digest("hex");
    expect(recordHash(GENESIS_HASH, record)).toBe(expected);
    expect(recordHash(GENESIS_HASH, { ...record, metadata: { alpha: "2", zeta: "1" } })).toBe(expected);
    expect(recordHash(GENESIS_HASH, { ...record, seq: 8 })).not.toBe(expected);
  });

  it("chain - a malformed prev_hash still hashes deterministically (and differently)", () => {
    const a = recordHash("zz", record);
    expect(recordHash("zz", record)).toBe(a);
    expect(a).not.toBe(recordHash(GENESIS_HASH, record));
  });

  it("chain - the assembled canonical text is exactly JSON.stringify of the fixed-order array, for awkward text too", () => {
    const texts = ["", 'quote " backslash \\ slash /', "tab\t nl\n cr\r nul\u0000 bell\u0007 del\u007f", "\u2028\u2029 żółw 😀 \ufeff", "</script>"];
    for (const details of texts) {
      for (const agent_id of [record.agent_id, null]) {
        const metadata = { [details || "k"]: details, "b key": "2", a: "" };
        const r = { ...record, details, agent_id, metadata };
        const pairs = Object.keys(metadata).sort().map((k) => [k, metadata[k as keyof typeof metadata]]);
        const definition = JSON.stringify([1, r.seq, r.id, r.timestamp, r.event_type, agent_id, details, pairs]);
        expect(canonicalJson(r)).toBe(definition);
        expect(metadataJson(metadata)).toBe(JSON.stringify(pairs));
        expect(canonicalWithSeq(r.seq, canonicalTail(r, metadataJson(metadata)))).toBe(definition);
        expect(canonicalWithSeq(123_456, tailOf(definition))).toBe(canonicalJson({ ...r, seq: 123_456 }));
        expect(hashCanonical(GENESIS_HASH, definition)).toBe(
          createHash("sha256").update(Buffer.from(GENESIS_HASH, "hex")).update(definition, "utf8").digest("hex"),
        );
      }
    }
  });

  it("chain - hashing a text longer than the reused buffer gives the same digest as a fresh hash", () => {
    const long = canonicalJson({ ...record, details: "ż".repeat(10_000) });
    const expected = createHash("sha256").update(Buffer.from(GENESIS_HASH, "hex")).update(long, "utf8").digest("hex");
    expect(hashCanonical(GENESIS_HASH, long)).toBe(expected);
    expect(recordHash(GENESIS_HASH, record)).toBe(
      createHash("sha256").update(Buffer.from(GENESIS_HASH, "hex")).update(canonicalBytes(record)).digest("hex"),
    );
  });
});
