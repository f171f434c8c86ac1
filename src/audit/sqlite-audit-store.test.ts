import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { describeAuditStoreContract } from "./audit-store.contract.js";
import { SqliteAuditStore } from "./sqlite-audit-store.js";

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
});
