import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { describePolicyStoreContract } from "./policy-store.contract.js";
import { openSqlitePolicyStore } from "./sqlite-policy-store.js";

describePolicyStoreContract("sqlite", () => {
  const file = join(mkdtempSync(join(tmpdir(), "symbiont-policy-")), "nested", "policies.db");
  return { open: () => openSqlitePolicyStore(file), reopen: () => openSqlitePolicyStore(file) };
});

describe("sqlite policy store", () => {
  it("sqlite policy store - a file that is not a database fails with POLICY_STORE_UNAVAILABLE", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "symbiont-policy-")), "bad.db");
    writeFileSync(file, "this is not sqlite at all, just text ".repeat(200));
    await expect(openSqlitePolicyStore(file)).rejects.toMatchObject({ code: "POLICY_STORE_UNAVAILABLE" });
  });

  it("sqlite policy store - a row edited into an invalid shape is reported on load", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "symbiont-policy-")), "p.db");
    const store = await openSqlitePolicyStore(file);
    await store.close();
    const db = new Database(file);
    db.prepare("INSERT INTO policies (id, body, updated_at) VALUES (?, ?, ?)").run("broken", '{"id":"broken"}', 0);
    db.close();
    const again = await openSqlitePolicyStore(file);
    try {
      await expect(again.load()).rejects.toMatchObject({ code: "POLICY_STORE_UNAVAILABLE", details: { policy_id: "broken" } });
    } finally {
      await again.close();
    }
  });
});
