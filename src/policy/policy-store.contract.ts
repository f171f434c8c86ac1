/**
 * The PolicyStore contract every implementation passes: round trips, replace, delete, durability across a
 * reopen, and idempotent close.
 */
import { describe, expect, it } from "vitest";
import type { Policy } from "../core/types.js";
import type { PolicyStore } from "./types.js";

export interface PolicyStoreHarness {
  /** A fresh, empty store. */
  open(): Promise<PolicyStore>;
  /** The same underlying database as the last `open()`, reopened (for durability). */
  reopen(): Promise<PolicyStore>;
}

const policy = (id: string, priority = 0): Policy => ({
  id,
  name: `policy ${id}`,
  description: "",
  priority,
  enabled: true,
  rules: [{ effect: "deny", action: "sandbox.network", condition: "tier < Tier2", description: "no net below Tier2" }],
});

export function describePolicyStoreContract(name: string, harness: () => PolicyStoreHarness, opts: { skip?: boolean } = {}): void {
  describe.skipIf(opts.skip === true)(`${name} - policy store contract`, () => {
    it("policy store - put then load returns the same policy", async () => {
      const store = await harness().open();
      try {
        await store.put(policy("a", 5));
        expect(await store.load()).toEqual([policy("a", 5)]);
      } finally {
        await store.close();
      }
    });

    it("policy store - put with an existing id replaces it", async () => {
      const store = await harness().open();
      try {
        await store.put(policy("a", 1));
        await store.put({ ...policy("a", 9), enabled: false, cedar: "forbid(principal, action, resource);", rules: [] });
        const loaded = await store.load();
        expect(loaded).toHaveLength(1);
        expect(loaded[0]).toMatchObject({ id: "a", priority: 9, enabled: false, rules: [] });
        expect(loaded[0]?.cedar).toBe("forbid(principal, action, resource);");
      } finally {
        await store.close();
      }
    });

    it("policy store - delete removes and reports whether anything was removed", async () => {
      const store = await harness().open();
      try {
        await store.put(policy("a"));
        await store.put(policy("b"));
        expect(await store.delete("a")).toBe(true);
        expect(await store.delete("a")).toBe(false);
        expect((await store.load()).map((p) => p.id)).toEqual(["b"]);
      } finally {
        await store.close();
      }
    });

    it("policy store - committed policies survive a reopen and close is idempotent", async () => {
      const h = harness();
      const store = await h.open();
      await store.put(policy("x", 3));
      await store.put(policy("y", 4));
      await store.delete("y");
      await store.close();
      await store.close();
      const again = await h.reopen();
      try {
        expect(await again.load()).toEqual([policy("x", 3)]);
      } finally {
        await again.close();
      }
    });
  });
}
