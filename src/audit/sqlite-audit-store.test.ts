import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { ManualClock } from "../core/clock.js";
import { AgentId } from "../core/ids.js";
import { silentLogger } from "../core/logger.js";
import { describeAuditStoreContract } from "./audit-store.contract.js";
import { generateSigner } from "./signing.js";
import { SqliteAuditStore } from "./sqlite-audit-store.js";
import { DefaultAuditTrail } from "./trail.js";

describeAuditStoreContract("sqlite", async () => {
  const dir = mkdtempSync(join(tmpdir(), "symbiont-audit-sqlite-"));
  const path = join(dir, "audit.db");
  return {
    open: () => SqliteAuditStore.open({ path }),
    async exec(sql) {
      const db = new Database(path);
      try {
        db.exec(sql);
      } finally {
        db.close();
      }
    },
    async cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe("sqlite audit store - specifics", () => {
  it("sqlite - opens in WAL mode with synchronous=FULL", async () => {
    const dir = mkdtempSync(join(tmpdir(), "symbiont-audit-sqlite-"));
    const store = await SqliteAuditStore.open({ path: join(dir, "nested", "audit.db") });
    await store.close();
    const db = new Database(join(dir, "nested", "audit.db"));
    try {
      expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
      expect(statSync(join(dir, "nested", "audit.db")).isFile()).toBe(true);
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("sqlite - a file that is not a database is AUDIT_STORE_UNAVAILABLE or AUDIT_MIGRATION_FAILED, never a crash", async () => {
    const dir = mkdtempSync(join(tmpdir(), "symbiont-audit-sqlite-"));
    const path = join(dir, "audit.db");
    writeFileSync(path, "this is not sqlite at all, just text ".repeat(100));
    try {
      await expect(SqliteAuditStore.open({ path })).rejects.toMatchObject({ code: expect.stringMatching(/^AUDIT_(STORE_UNAVAILABLE|MIGRATION_FAILED)$/) });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("sqlite - a read-only database rejects appends with a typed error and loses nothing already stored", async () => {
    const dir = mkdtempSync(join(tmpdir(), "symbiont-audit-sqlite-"));
    const path = join(dir, "audit.db");
    const store = await SqliteAuditStore.open({ path });
    await store.close();
    chmodSync(path, 0o444);
    try {
      if (process.getuid?.() === 0) return; // root ignores file modes; nothing to observe
      const ro = await SqliteAuditStore.open({ path });
      await expect(ro.append(() => ({ records: [], checkpoint: null }))).rejects.toMatchObject({ code: expect.stringMatching(/^AUDIT_/) });
      await ro.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("sqlite - a schema-1 database is migrated at open: its records read, verify and query by agent as before", async () => {
    const dir = mkdtempSync(join(tmpdir(), "symbiont-audit-sqlite-"));
    const path = join(dir, "audit.db");
    const signer = generateSigner();
    const agent = AgentId.new();
    const trailOn = async (): Promise<DefaultAuditTrail> =>
      new DefaultAuditTrail({ store: await SqliteAuditStore.open({ path }), signer, clock: new ManualClock(), logger: silentLogger() });
    try {
      const first = await trailOn();
      for (let i = 1; i <= 6; i++) await first.recordEvent({ event_type: "AgentStarted", agent_id: i % 2 ? agent : null, details: `d${i}`, metadata: { b: "2", a: String(i) } });
      const before = await first.queryEvents({ limit: 100 });
      await first.close();
      // Back to what schema 1 wrote: metadata objects in insertion order, the agent index keyed by agent alone.
      const db = new Database(path);
      db.exec(`
        UPDATE audit_events SET metadata = json_object('b', '2', 'a', CAST(seq AS TEXT));
        DROP INDEX audit_events_agent_epoch;
        CREATE INDEX audit_events_agent ON audit_events (agent_id, seq) WHERE agent_id IS NOT NULL;
        DELETE FROM audit_migrations WHERE version > 1;`);
      db.close();

      const upgraded = await trailOn();
      expect(await upgraded.queryEvents({ limit: 100 })).toEqual(before);
      expect((await upgraded.queryEvents({ agent_id: agent, limit: 100 })).map((r) => r.seq)).toEqual([1, 3, 5]);
      await upgraded.recordEvent({ event_type: "AgentStopped", agent_id: agent, details: "after the upgrade", metadata: { z: "1", a: "0" } });
      expect(await upgraded.verifySequence()).toMatchObject({ valid: true, records_checked: 7 });
      await upgraded.close();
      const check = new Database(path);
      try {
        expect(check.prepare("SELECT MAX(version) AS v FROM audit_migrations").get()).toEqual({ v: 2 });
        expect(check.prepare("SELECT metadata FROM audit_events WHERE seq = 7").get()).toEqual({ metadata: '[["a","0"],["z","1"]]' });
      } finally {
        check.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
