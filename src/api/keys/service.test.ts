import { describe, expect, it } from "vitest";
import { ManualClock } from "../../core/clock.js";
import { MemoryApiKeyStore } from "./memory-api-key-store.js";
import { ApiKeyService, parseBearer } from "./service.js";

function make() {
  const clock = new ManualClock();
  const store = new MemoryApiKeyStore();
  return { clock, store, svc: new ApiKeyService(store, clock, 60_000) };
}

describe("api keys - service", () => {
  it("creates a key whose secret is never stored and authenticates it", async () => {
    const { svc, store } = make();
    const { info, token } = await svc.create({ name: "ops", admin: true });
    expect(token.startsWith(`${info.key_id}.`)).toBe(true);
    const secret = token.split(".")[1] as string;
    const rec = await store.get(info.key_id);
    expect(rec?.hash).toMatch(/^scrypt\$16384\$8\$1\$/);
    expect(JSON.stringify(rec)).not.toContain(secret);
    expect(info).not.toHaveProperty("hash");
    const p = await svc.authenticate(`Bearer ${token}`);
    expect(p).toEqual({ key_id: info.key_id, name: "ops", admin: true, agent_ids: null });
    const verified = svc.verified(svc.present(`Bearer ${token}`));
    expect(verified?.keyId).toBe(info.key_id);
    expect(svc.principalOf(verified!)).toEqual(p);
  });

  it("rejects a wrong secret even after the right one was cached", async () => {
    const { svc } = make();
    const { info, token } = await svc.create({ name: "a" });
    await svc.authenticate(`Bearer ${token}`);
    const wrong = `Bearer ${info.key_id}.${"A".repeat(43)}`;
    expect(svc.verified(svc.present(wrong))).toBeUndefined();
    await expect(svc.authenticate(wrong)).rejects.toMatchObject({ code: "UNAUTHORIZED" });
  });

  it("a kept token matches its cache entry again without a new comparison, and stops matching when the entry goes", async () => {
    const { svc, clock } = make();
    const { info, token } = await svc.create({ name: "a" });
    const kept = svc.present(`Bearer ${token}`)!;
    expect(svc.verified(kept)).toBeUndefined();
    await svc.authenticate(`Bearer ${token}`, kept);
    const first = svc.verified(kept);
    expect(first?.keyId).toBe(info.key_id);
    expect(kept.matched).toBe(first);
    expect(svc.verified(kept)).toBe(first);
    // Past the ttl the entry no longer counts, whatever the token matched before.
    await clock.advance(60_001);
    expect(svc.verified(kept)).toBeUndefined();
    await svc.authenticate(`Bearer ${token}`, kept);
    expect(svc.verified(kept)).not.toBe(first);
    await svc.revoke(info.key_id);
    expect(svc.verified(kept)).toBeUndefined();
  });

  it("revocation takes effect immediately", async () => {
    const { svc } = make();
    const { info, token } = await svc.create({ name: "a" });
    await svc.authenticate(`Bearer ${token}`);
    const revoked = await svc.revoke(info.key_id);
    expect(revoked.revoked_at).not.toBeNull();
    await expect(svc.authenticate(`Bearer ${token}`)).rejects.toMatchObject({ code: "UNAUTHORIZED" });
    await expect(svc.revoke("ffffffffffffffff")).rejects.toMatchObject({ code: "API_KEY_NOT_FOUND" });
  });

  it("concurrent first uses of a token share one verification; a revocation made in the store is seen after the ttl", async () => {
    const { svc, store, clock } = make();
    const { info, token } = await svc.create({ name: "a" });
    let reads = 0;
    const get = store.get.bind(store);
    store.get = async (id) => {
      reads++;
      return get(id);
    };
    const all = await Promise.all(Array.from({ length: 5 }, () => svc.authenticate(`Bearer ${token}`)));
    expect(all.every((p) => p.key_id === info.key_id)).toBe(true);
    expect(reads).toBe(1);
    await clock.advance(61_000);
    // Past the ttl the record is read again: still valid, then revoked by another process.
    expect((await svc.authenticate(`Bearer ${token}`)).key_id).toBe(info.key_id);
    expect(reads).toBe(2);
    await store.revoke(info.key_id, clock.now());
    expect((await svc.authenticate(`Bearer ${token}`)).key_id).toBe(info.key_id);
    await clock.advance(61_000);
    await expect(svc.authenticate(`Bearer ${token}`)).rejects.toMatchObject({ code: "UNAUTHORIZED" });
  });

  it("an expired key is refused, cached or not", async () => {
    const { svc, clock } = make();
    const { token } = await svc.create({ name: "a", expires_at: clock.now() + 1_000 });
    await svc.authenticate(`Bearer ${token}`);
    await clock.advance(2_000);
    await expect(svc.authenticate(`Bearer ${token}`)).rejects.toMatchObject({ code: "UNAUTHORIZED" });
  });

  it("scoped keys carry their lower-cased agent ids", async () => {
    const { svc } = make();
    const { token } = await svc.create({ name: "s", agent_ids: ["ABC", "abc", "def"] });
    expect((await svc.authenticate(`Bearer ${token}`)).agent_ids).toEqual(["abc", "def"]);
  });

  it("malformed headers are refused without a store lookup", async () => {
    const { svc } = make();
    for (const h of [undefined, "", "Basic abc", "Bearer", "Bearer x.y", "Bearer 0123456789abcdef", `Bearer 0123456789abcdef.${"é".repeat(43)}`]) {
      await expect(svc.authenticate(h)).rejects.toMatchObject({ code: "UNAUTHORIZED" });
    }
    expect(parseBearer(`bearer 0123456789abcdef.${"a".repeat(43)}`)).toEqual({ keyId: "0123456789abcdef", secret: "a".repeat(43) });
  });
});
