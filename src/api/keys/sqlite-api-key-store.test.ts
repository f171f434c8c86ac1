import { mkdtempSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { describeApiKeyStoreContract } from "./api-key-store.contract.js";
import { SqliteApiKeyStore } from "./sqlite-api-key-store.js";

describeApiKeyStoreContract("sqlite", () => SqliteApiKeyStore.open(join(mkdtempSync(join(tmpdir(), "symbiont-keys-")), "keys.db")));

describe("sqlite api key store - durability", () => {
  it("keeps keys across reopen, in WAL mode", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "symbiont-keys-")), "nested", "keys.db");
    const a = await SqliteApiKeyStore.open(path);
    await a.insert({
      key_id: "0123456789abcdef",
      name: "x",
      hash: "h",
      admin: true,
      agent_ids: ["z"],
      created_at: 1,
      expires_at: null,
      revoked_at: null,
      last_used_at: null,
    });
    await a.close();
    expect(statSync(path).isFile()).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const b = await SqliteApiKeyStore.open(path);
    expect((await b.get("0123456789abcdef"))?.agent_ids).toEqual(["z"]);
    await b.close();
  });

  it("fails to open an unusable path with API_KEY_STORE_FAILED", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "symbiont-keys-")), "plain-file");
    writeFileSync(file, "x");
    await expect(SqliteApiKeyStore.open(join(file, "keys.db"))).rejects.toMatchObject({ code: "API_KEY_STORE_FAILED" });
  });
});
