/**
 * The one behaviour every AuditStore must show, run against SQLite and PostgreSQL: durable appends with a
 * gap-free chain, every query filter and pagination, multi-writer appends, migrations, retention, and
 * detection of each kind of tampering at the right sequence number (done with raw SQL, as an attacker with
 * database access would).
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ManualClock } from "../core/clock.js";
import { AgentId, type AuditId } from "../core/ids.js";
import { silentLogger } from "../core/logger.js";
import { canonicalJson, GENESIS_HASH, recordHash } from "./chain.js";
import { matchesQuery, resolveQuery } from "./query.js";
import { generateSigner, type CheckpointSigner } from "./signing.js";
import { DefaultAuditTrail, type AuditTrailOptions } from "./trail.js";
import type { AuditEventType, AuditQuery, AuditRecord, AuditStore } from "./types.js";

export interface AuditStoreHarness {
  /** A new store instance on the same backing data (same file or schema). */
  open(): Promise<AuditStore>;
  /** Raw SQL (several statements allowed, no parameters) against the backing data. */
  exec(sql: string): Promise<void>;
  /** Drops the backing data. */
  cleanup(): Promise<void>;
}

export interface AuditStoreContractOptions {
  /** A reason to skip the whole suite (printed), e.g. no server. */
  readonly skip?: string;
}

const lit = (s: string | null): string => (s === null ? "NULL" : `'${s.replace(/'/g, "''")}'`);

export function describeAuditStoreContract(
  name: string,
  makeHarness: () => Promise<AuditStoreHarness>,
  opts: AuditStoreContractOptions = {},
): void {
  describe.skipIf(opts.skip !== undefined)(`${name} - AuditStore contract`, () => {
    let h: AuditStoreHarness;
    let store: AuditStore;
    let signer: CheckpointSigner;
    let clock: ManualClock;
    const trails: DefaultAuditTrail[] = [];

    const trailOn = (s: AuditStore, options: AuditTrailOptions = {}, sign = signer): DefaultAuditTrail => {
      const t = new DefaultAuditTrail({ store: s, signer: sign, clock, logger: silentLogger(), ownsStore: false, options });
      trails.push(t);
      return t;
    };

    beforeEach(async () => {
      h = await makeHarness();
      store = await h.open();
      signer = generateSigner();
      clock = new ManualClock();
    });

    afterEach(async () => {
      for (const t of trails.splice(0)) await t.close().catch(() => undefined);
      await store.close();
      await h.cleanup();
    });

    /** Records n events one at a time (so checkpoints fall every N records). */
    async function recordSequentially(trail: DefaultAuditTrail, n: number): Promise<AuditId[]> {
      const ids: AuditId[] = [];
      for (let i = 1; i <= n; i++) {
        ids.push(await trail.recordEvent({ event_type: "RuntimeEvent", details: `event number ${i}`, metadata: { i: String(i) } }));
        await clock.advance(1);
      }
      return ids;
    }

    async function all(): Promise<AuditRecord[]> {
      const out: AuditRecord[] = [];
      for await (const chunk of store.scan(1, Number.MAX_SAFE_INTEGER)) out.push(...chunk);
      return out;
    }

    /** Rewrites records from `from` on (content via `mutate`), recomputing every hash after it: a careful forger. */
    async function rewriteChain(from: number, mutate: (r: AuditRecord) => AuditRecord): Promise<void> {
      const records = await all();
      let prev = (records.find((r) => r.seq === from - 1)?.hash ?? GENESIS_HASH) as string;
      const sql: string[] = [];
      for (const r of records.filter((x) => x.seq >= from)) {
        const m = r.seq === from ? mutate(r) : r;
        const hash = recordHash(prev, m);
        sql.push(`UPDATE audit_events SET details = ${lit(m.details)}, prev_hash = ${lit(prev)}, hash = ${lit(hash)} WHERE seq = ${r.seq}`);
        prev = hash;
      }
      await h.exec(sql.join(";\n"));
    }

    it("append - acknowledged records are committed with gap-free sequence numbers and a valid chain", async () => {
      const trail = trailOn(store, { checkpoint_every_records: 1000 });
      const agent = AgentId.new();
      const ids = await Promise.all(
        Array.from({ length: 250 }, (_, i) => trail.recordEvent({ event_type: "AgentStarted", agent_id: agent, details: `d${i}` })),
      );
      expect(new Set(ids).size).toBe(250);
      const reopened = await h.open();
      try {
        const head = await reopened.head();
        expect(head.seq).toBe(250);
        const first = await reopened.getBySeq(1);
        expect(first?.prev_hash).toBe(GENESIS_HASH);
        const got = await reopened.getById(ids[99] as AuditId);
        expect(got).toMatchObject({ id: ids[99], agent_id: agent, event_type: "AgentStarted", details: "d99" });
        let prev = GENESIS_HASH;
        let seq = 0;
        for await (const r of (async function* () {
          for await (const chunk of reopened.scan(1, 250)) yield* chunk;
        })()) {
          expect(r.seq).toBe(++seq);
          expect(r.prev_hash).toBe(prev);
          expect(recordHash(r.prev_hash, r)).toBe(r.hash);
          prev = r.hash;
        }
        expect(seq).toBe(250);
      } finally {
        await reopened.close();
      }
      expect((await trail.verifySequence()).valid).toBe(true);
    });

    it("append - two writers on the same chain interleave without forking it", async () => {
      const second = await h.open();
      try {
        const a = trailOn(store);
        const b = trailOn(second);
        await Promise.all(
          Array.from({ length: 60 }, (_, i) =>
            (i % 2 ? a : b).recordEvent({ event_type: "RuntimeEvent", details: `writer ${i % 2} #${i}` }),
          ),
        );
        const report = await a.verifySequence();
        expect(report).toMatchObject({ valid: true, from_seq: 1, to_seq: 60, records_checked: 60 });
      } finally {
        await second.close();
      }
    });

    it("checkpoints - one is signed every N records and verifies with the trail's key", async () => {
      const trail = trailOn(store, { checkpoint_every_records: 5 });
      await recordSequentially(trail, 12);
      const cps = await store.checkpoints(0, 100);
      expect(cps.map((c) => c.seq)).toEqual([5, 10]);
      expect(cps.every((c) => c.key_id === signer.keyId)).toBe(true);
      const report = await trail.verifySequence();
      expect(report).toMatchObject({ valid: true, checkpoints_checked: 2, unsigned_records: 2 });
      const cp = await trail.checkpoint();
      expect(cp?.seq).toBe(12);
      expect(await trail.checkpoint()).toBeNull();
    });

    it("checkpoints - a timed checkpoint signs unsigned records after checkpoint_interval_ms", async () => {
      const trail = trailOn(store, { checkpoint_every_records: 1000, checkpoint_interval_ms: 5000 });
      await trail.recordEvent({ event_type: "SecurityEvent", details: "x" });
      await clock.advance(4999);
      expect(await store.checkpoints(0, 10)).toEqual([]);
      await clock.advance(1);
      await trail.flush();
      expect((await store.checkpoints(0, 10)).map((c) => c.seq)).toEqual([1]);
    });

    describe("query", () => {
      const agents = [AgentId.new(), AgentId.new(), AgentId.new()];
      const types: AuditEventType[] = ["AgentCreated", "MessageSent", "PolicyViolation", "SecurityEvent"];
      let trail: DefaultAuditTrail;
      let records: AuditRecord[];

      beforeEach(async () => {
        trail = trailOn(store);
        // One batch: timestamps are explicit, so order and times do not depend on commit timing.
        await Promise.all(
          Array.from({ length: 120 }, (_, i) =>
            trail.recordEvent({
            event_type: types[i % types.length] as AuditEventType,
            agent_id: i % 5 === 0 ? null : (agents[i % agents.length] as AgentId),
            timestamp: 1_000_000 + i * 10,
            details: i % 7 === 0 ? `Denied 100%_off for #${i}` : `routine ${i}`,
              metadata: { tenant: i % 2 ? "acme" : "globex", shard: String(i % 3) },
            }),
          ),
        );
        records = await all();
      });

      const cases: [string, AuditQuery][] = [
        ["time range", { from_time: 1_000_200, to_time: 1_000_500 }],
        ["event types", { event_types: ["PolicyViolation", "SecurityEvent"] }],
        ["agent", { agent_id: agents[1] as AgentId }],
        ["metadata key/value (two pairs)", { metadata: { tenant: "acme", shard: "1" } }],
        ["text, case-insensitive, wildcards literal", { text: "100%_OFF" }],
        ["combined", { agent_id: agents[2] as AgentId, event_types: ["AgentCreated", "MessageSent"], from_time: 1_000_100 }],
      ];
      for (const [label, q] of cases) {
        it(`query - ${label} returns exactly the matching records`, async () => {
          const expected = records.filter((r) => matchesQuery(r, resolveQuery(q))).map((r) => r.seq);
          expect(expected.length).toBeGreaterThan(0);
          const got = await trail.queryEvents({ ...q, limit: 1000 });
          expect(got.map((r) => r.seq)).toEqual(expected);
        });
      }

      it("query - cursor pagination walks every record once, in both orders", async () => {
        for (const order of ["asc", "desc"] as const) {
          const seen: number[] = [];
          let cursor: string | undefined;
          let pages = 0;
          do {
            const page = await trail.queryPage({ limit: 25, order, metadata: { tenant: "acme" }, ...(cursor ? { cursor } : {}) });
            seen.push(...page.events.map((e) => e.seq));
            cursor = page.next_cursor ?? undefined;
            pages++;
          } while (cursor);
          const expected = records.filter((r) => r.metadata.tenant === "acme").map((r) => r.seq);
          expect(seen).toEqual(order === "asc" ? expected : [...expected].reverse());
          expect(pages).toBe(Math.ceil(expected.length / 25));
        }
      });

      it("query - bad input is a typed AUDIT_QUERY_INVALID", async () => {
        await expect(trail.queryEvents({ limit: 0 })).rejects.toMatchObject({ code: "AUDIT_QUERY_INVALID" });
        await expect(trail.queryEvents({ cursor: "garbage" })).rejects.toMatchObject({ code: "AUDIT_QUERY_INVALID" });
        await expect(trail.queryEvents({ event_types: ["Nope" as AuditEventType] })).rejects.toMatchObject({ code: "AUDIT_QUERY_INVALID" });
        await expect(trail.queryEvents({ from_time: 10, to_time: 5 })).rejects.toMatchObject({ code: "AUDIT_QUERY_INVALID" });
        const asc = await trail.queryPage({ limit: 1 });
        await expect(trail.queryEvents({ cursor: asc.next_cursor as string, order: "desc" })).rejects.toMatchObject({ code: "AUDIT_QUERY_INVALID" });
      });

      it("getEvent - returns the record by id; an unknown id is AUDIT_EVENT_NOT_FOUND", async () => {
        const r = records[17] as AuditRecord;
        expect(await trail.getEvent(r.id)).toEqual(r);
        await expect(trail.getEvent("00000000-0000-4000-8000-000000000000" as AuditId)).rejects.toMatchObject({ code: "AUDIT_EVENT_NOT_FOUND" });
      });

      it("verifyIntegrity - a time range verifies just the records inside it", async () => {
        const report = await trail.verifyIntegrity(1_000_200, 1_000_500);
        expect(report).toMatchObject({ valid: true, from_seq: 21, to_seq: 51, records_checked: 31 });
      });
    });

    describe("tampering", () => {
      let trail: DefaultAuditTrail;
      beforeEach(async () => {
        trail = trailOn(store, { checkpoint_every_records: 10 });
        await recordSequentially(trail, 25);
        expect((await trail.verifySequence()).valid).toBe(true);
      });

      const expectBroken = async (seq: number, kind: string): Promise<void> => {
        const report = await trail.verifySequence();
        expect(report.problem?.kind, report.problem?.message).toBe(kind);
        expect(report.first_broken_seq, report.problem?.message).toBe(seq);
        expect(report.valid).toBe(false);
      };

      it("tamper - one changed byte of details is 'edited' at its seq", async () => {
        await h.exec("UPDATE audit_events SET details = 'E' || substr(details, 2) WHERE seq = 7");
        await expectBroken(7, "edited");
      });

      it("tamper - a changed metadata value is 'edited' at its seq", async () => {
        await h.exec(`UPDATE audit_events SET metadata = ${lit(JSON.stringify({ i: "999" }))} WHERE seq = 13`);
        await expectBroken(13, "edited");
      });

      it("tamper - a changed value in the canonical metadata pairs is 'edited' at its seq", async () => {
        await h.exec(`UPDATE audit_events SET metadata = ${lit(JSON.stringify([["i", "999"]]))} WHERE seq = 14`);
        await expectBroken(14, "edited");
      });

      it("tamper - canonical metadata rewritten with the same content in other bytes is 'edited' at its seq", async () => {
        await h.exec(`UPDATE audit_events SET metadata = ${lit('[["i", "11"]]')} WHERE seq = 11`);
        await expectBroken(11, "edited");
      });

      it("tamper - a changed timestamp, event type or agent is 'edited' at its seq", async () => {
        await h.exec("UPDATE audit_events SET ts = ts + 1 WHERE seq = 17");
        await expectBroken(17, "edited");
        await h.exec("UPDATE audit_events SET event_type = 'SecurityEvent' WHERE seq = 4");
        await expectBroken(4, "edited");
        await h.exec(`UPDATE audit_events SET agent_id = ${lit(AgentId.new())} WHERE seq = 2`);
        await expectBroken(2, "edited");
      });

      it("tamper - a prev_hash or hash that is not a hash at all is caught at its seq", async () => {
        await h.exec("UPDATE audit_events SET hash = upper(hash) WHERE seq = 19");
        await expectBroken(19, "edited");
        await h.exec("UPDATE audit_events SET prev_hash = 'zz' WHERE seq = 12");
        await expectBroken(12, "edited");
        await h.exec(`UPDATE audit_events SET prev_hash = ${lit("ż".repeat(32))} WHERE seq = 9`);
        await expectBroken(9, "edited");
      });

      it("tamper - a deleted record is 'deleted' at its seq", async () => {
        await h.exec("DELETE FROM audit_events WHERE seq = 9");
        await expectBroken(9, "deleted");
      });

      it("tamper - a deleted record with later ones renumbered is still 'deleted' at its seq", async () => {
        await h.exec("DELETE FROM audit_events WHERE seq = 4; UPDATE audit_events SET seq = -seq WHERE seq > 4; UPDATE audit_events SET seq = -seq - 1 WHERE seq < 0");
        await expectBroken(4, "deleted");
      });

      it("tamper - two swapped records are 'reordered' at the first of them", async () => {
        await h.exec("UPDATE audit_events SET seq = -1 WHERE seq = 15; UPDATE audit_events SET seq = 15 WHERE seq = 16; UPDATE audit_events SET seq = 16 WHERE seq = -1");
        await expectBroken(15, "reordered");
      });

      it("tamper - a forged record inserted (later ones renumbered) is 'inserted' at its seq", async () => {
        const before = (await store.getBySeq(5)) as AuditRecord;
        await h.exec("UPDATE audit_events SET seq = -seq WHERE seq >= 6; UPDATE audit_events SET seq = -seq + 1 WHERE seq < 0");
        const forged = { seq: 6, id: "11111111-1111-4111-8111-111111111111" as AuditId, timestamp: before.timestamp, event_type: "RuntimeEvent" as const, agent_id: null, details: "nothing to see", metadata: {} };
        const hash = recordHash(before.hash, forged);
        await h.exec(
          `INSERT INTO audit_events (seq, id, ts, event_type, agent_id, details, metadata, prev_hash, hash) VALUES (6, ${lit(forged.id)}, ${forged.timestamp}, 'RuntimeEvent', NULL, ${lit(forged.details)}, '{}', ${lit(before.hash)}, ${lit(hash)})`,
        );
        await expectBroken(6, "inserted");
      });

      it("tamper - a record rewritten with recomputed hashes is a 'checkpoint_mismatch' at the next checkpoint", async () => {
        await rewriteChain(12, (r) => ({ ...r, details: "rewritten" }));
        await expectBroken(20, "checkpoint_mismatch");
      });

      it("tamper - a rewritten chain re-signed with another key is 'wrong_key' at the first re-signed checkpoint", async () => {
        await rewriteChain(12, (r) => ({ ...r, details: "rewritten" }));
        const attacker = generateSigner();
        const head = (await store.getBySeq(20)) as AuditRecord;
        const cp = attacker.sign({ seq: 20, hash: head.hash, timestamp: clock.now() });
        await h.exec(`UPDATE audit_checkpoints SET hash = ${lit(cp.hash)}, key_id = ${lit(cp.key_id)}, signature = ${lit(cp.signature)} WHERE seq = 20`);
        await expectBroken(20, "wrong_key");
      });

      it("tamper - a checkpoint whose signature is not the trail key's is 'checkpoint_forged'", async () => {
        const other = generateSigner().sign({ seq: 10, hash: ((await store.getBySeq(10)) as AuditRecord).hash, timestamp: 1 });
        await h.exec(`UPDATE audit_checkpoints SET signature = ${lit(other.signature)} WHERE seq = 10`);
        await expectBroken(10, "checkpoint_forged");
      });

      it("tamper - records cut off after a signed checkpoint are 'deleted' from the first missing seq", async () => {
        await trail.checkpoint(); // signs 25
        await h.exec("DELETE FROM audit_events WHERE seq > 21");
        await expectBroken(22, "deleted");
      });

      it("tamper - the first problem wins when there are several", async () => {
        await h.exec("DELETE FROM audit_events WHERE seq = 18; UPDATE audit_events SET details = 'x' WHERE seq = 3");
        await expectBroken(3, "edited");
      });
    });

    it("scanChain - the canonical text the store assembles is byte for byte canonicalJson of the record", async () => {
      const trail = trailOn(store);
      const texts = ["", 'quote " backslash \\ slash /', "tab\t nl\n cr\r bell\u0007 del\u007f", "\u2028\u2029 żółw 😀 \ufeff"];
      for (const [i, details] of texts.entries()) {
        await trail.recordEvent({
          event_type: "SecurityEvent",
          agent_id: i % 2 ? AgentId.new() : null,
          details,
          metadata: i === 0 ? {} : { zeta: details, alpha: String(i), [details]: "key from details" },
        });
      }
      await trail.flush();
      const entries = [];
      for await (const chunk of store.scanChain(1, 100)) entries.push(...chunk);
      const records = await all();
      expect(entries.map((e) => e.seq)).toEqual(records.map((r) => r.seq));
      for (const [i, r] of records.entries()) {
        expect(entries[i]?.canonical).toBe(canonicalJson(r));
        expect(entries[i]).toMatchObject({ prev_hash: r.prev_hash, hash: r.hash });
      }
      expect(records.map((r) => r.details)).toEqual(texts);
    });

    it("migrations - rows holding schema-1 metadata objects stay readable and verify; editing one is still caught", async () => {
      const trail = trailOn(store, { checkpoint_every_records: 5 });
      await recordSequentially(trail, 12);
      const before = await all();
      // What schema 1 stored: the metadata object, not the canonical pairs.
      await h.exec(`UPDATE audit_events SET metadata = '{"i":"' || seq || '"}' WHERE seq <= 8`);
      expect(await all()).toEqual(before);
      expect(await trail.verifySequence()).toMatchObject({ valid: true, records_checked: 12 });
      await h.exec(`UPDATE audit_events SET metadata = '{"i":"77"}' WHERE seq = 7`);
      const report = await trail.verifySequence();
      expect(report).toMatchObject({ valid: false, first_broken_seq: 7, problem: { kind: "edited" } });
    });

    it("query - an agent's records spread over many thousands of others page correctly in both orders", async () => {
      const trail = trailOn(store);
      const agent = AgentId.new();
      const others = [AgentId.new(), AgentId.new()];
      const mine: number[] = [];
      const total = 9_500;
      await Promise.all(
        Array.from({ length: total }, (_, i) => {
          const ours = i % 97 === 0 || (i > 4090 && i < 4100);
          if (ours) mine.push(i + 1);
          return trail.recordEvent({ event_type: "MessageSent", agent_id: ours ? agent : (others[i % 2] as AgentId), details: `m${i}` });
        }),
      );
      for (const order of ["asc", "desc"] as const) {
        const seen: number[] = [];
        let cursor: string | undefined;
        do {
          const page = await trail.queryPage({ agent_id: agent, limit: 17, order, ...(cursor ? { cursor } : {}) });
          expect(page.events.every((e) => e.agent_id === agent)).toBe(true);
          seen.push(...page.events.map((e) => e.seq));
          cursor = page.next_cursor ?? undefined;
        } while (cursor);
        expect(seen).toEqual(order === "asc" ? mine : [...mine].reverse());
      }
      const newest = await trail.queryEvents({ agent_id: agent, order: "desc", limit: 3, event_types: ["MessageSent"], text: "M9" });
      expect(newest.map((e) => e.seq)).toEqual(mine.filter((s) => `m${s - 1}`.startsWith("m9")).reverse().slice(0, 3));
    });

    it("migrations - reopening keeps data and a schema newer than the code is AUDIT_MIGRATION_FAILED", async () => {
      const trail = trailOn(store);
      await trail.recordEvent({ event_type: "AgentCreated", details: "kept" });
      const again = await h.open();
      expect((await again.head()).seq).toBe(1);
      await again.close();
      await h.exec("INSERT INTO audit_migrations (version, name, applied_at) VALUES (999, 'from the future', 0)");
      await expect(h.open()).rejects.toMatchObject({ code: "AUDIT_MIGRATION_FAILED" });
    });
  });
}
