import { describe, expect, it } from "vitest";
import { AgentId } from "../core/ids.js";
import { KeyStore, verifySignature } from "./key-store.js";

describe("bus key store - keys adopted from storage", () => {
  it("are the same keys as the exported ones, imported on first use", () => {
    const original = new KeyStore();
    const id = AgentId.new();
    const publicKeys = original.create(id);
    const restored = new KeyStore();
    restored.adoptPrivate(id, original.exportPrivate(id));
    expect(restored.has(id)).toBe(true);
    expect(restored.size).toBe(1);
    const data = new TextEncoder().encode("signed after a restart");
    expect(verifySignature(publicKeys.signing_public_key, data, restored.sign(id, data))).toBe(true);
    expect(restored.publicKeys(id)).toEqual(publicKeys);
    // Adopting again keeps the keys the agent has.
    const other = new KeyStore();
    const otherId = AgentId.new();
    other.create(otherId);
    restored.adoptPrivate(id, other.exportPrivate(otherId));
    expect(restored.publicKeys(id)).toEqual(publicKeys);
  });

  it("that are not in the stored format are refused when adopted", () => {
    const store = new KeyStore();
    const id = AgentId.new();
    const a = new KeyStore();
    const other = AgentId.new();
    a.create(other);
    expect(() => store.adoptPrivate(id, a.exportPrivate(other).subarray(0, 40))).toThrow(/not an Ed25519 and an X25519 key/);
    expect(store.has(id)).toBe(false);
  });

  it("from a loader are opened on first use; a loader that fails fails that use, and the next", () => {
    const original = new KeyStore();
    const id = AgentId.new();
    const publicKeys = original.create(id);
    const bytes = original.exportPrivate(id);
    let opened = 0;
    const lazy = new KeyStore();
    lazy.adoptPrivate(id, () => {
      opened++;
      return bytes;
    });
    expect(opened).toBe(0);
    expect(lazy.publicKeys(id)).toEqual(publicKeys);
    expect(lazy.publicKeys(id)).toEqual(publicKeys);
    expect(opened).toBe(1);
    const broken = new KeyStore();
    broken.adoptPrivate(id, () => {
      throw new Error("Stored bus record cannot be opened");
    });
    expect(() => broken.sign(id, new Uint8Array(1))).toThrow(/cannot be opened/);
    expect(() => broken.publicKeys(id)).toThrow(/cannot be opened/);
  });
});
