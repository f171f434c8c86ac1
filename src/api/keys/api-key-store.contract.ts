/**
 * The behaviour every ApiKeyStore shares; each implementation's test runs it.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ApiKeyRecord, ApiKeyStore } from "./types.js";

function record(over: Partial<ApiKeyRecord> = {}): ApiKeyRecord {
  return {
    key_id: "0123456789abcdef",
    name: "ops",
    hash: "scrypt$16384$8$1$c2FsdA$aGFzaA",
    admin: false,
    agent_ids: null,
    created_at: 1_000,
    expires_at: null,
    revoked_at: null,
    last_used_at: null,
    ...over,
  };
}

export function describeApiKeyStoreContract(name: string, make: () => Promise<ApiKeyStore>): void {
  describe(`${name} - ApiKeyStore contract`, () => {
    let store: ApiKeyStore;
    beforeEach(async () => {
      store = await make();
    });
    afterEach(async () => {
      await store.close();
    });

    it("stores and returns a record field by field", async () => {
      const r = record({ admin: true, agent_ids: ["a", "b"], expires_at: 9_000 });
      await store.insert(r);
      expect(await store.get(r.key_id)).toEqual(r);
      expect(await store.get("ffffffffffffffff")).toBeUndefined();
    });

    it("refuses a duplicate id with API_KEY_STORE_FAILED", async () => {
      await store.insert(record());
      await expect(store.insert(record())).rejects.toMatchObject({ code: "API_KEY_STORE_FAILED" });
    });

    it("lists oldest first and counts only active keys", async () => {
      await store.insert(record({ key_id: "bbbbbbbbbbbbbbbb", created_at: 2 }));
      await store.insert(record({ key_id: "aaaaaaaaaaaaaaaa", created_at: 1 }));
      await store.insert(record({ key_id: "cccccccccccccccc", created_at: 3, expires_at: 50 }));
      expect((await store.list()).map((r) => r.key_id)).toEqual(["aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb", "cccccccccccccccc"]);
      expect(await store.countActive(10)).toBe(3);
      expect(await store.countActive(100)).toBe(2);
      expect(await store.revoke("aaaaaaaaaaaaaaaa", 5)).toBe(true);
      expect(await store.countActive(10)).toBe(2);
    });

    it("revoke keeps the first revocation time and reports unknown ids", async () => {
      await store.insert(record());
      expect(await store.revoke("0123456789abcdef", 10)).toBe(true);
      expect(await store.revoke("0123456789abcdef", 20)).toBe(true);
      expect((await store.get("0123456789abcdef"))?.revoked_at).toBe(10);
      expect(await store.revoke("ffffffffffffffff", 10)).toBe(false);
    });

    it("touch records last use", async () => {
      await store.insert(record());
      await store.touch("0123456789abcdef", 77);
      expect((await store.get("0123456789abcdef"))?.last_used_at).toBe(77);
    });

    it("close is idempotent and later calls fail with API_KEY_STORE_FAILED", async () => {
      await store.close();
      await store.close();
      await expect(store.list()).rejects.toMatchObject({ code: "API_KEY_STORE_FAILED" });
      store = await make();
    });
  });
}
