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

  it("that are not an Ed25519 and an X25519 key fail at first use with a clear error", () => {
    const store = new KeyStore();
    const id = AgentId.new();
    const a = new KeyStore();
    const other = AgentId.new();
    a.create(other);
    const bytes = a.exportPrivate(other);
    // Swap the two keys: each is a valid PKCS#8 key of the wrong kind.
    const cut = 2 + bytes.readUInt16BE(0);
    const signing = bytes.subarray(2, cut);
    const agreement = bytes.subarray(cut);
    const len = Buffer.alloc(2);
    len.writeUInt16BE(agreement.length);
    store.adoptPrivate(id, Buffer.concat([len, agreement, signing]));
    expect(store.has(id)).toBe(true);
    expect(() => store.sign(id, new Uint8Array(1))).toThrow(/not an Ed25519 and an X25519 key/);
    // Still the same error on the next use, not a silent "no keys".
    expect(() => store.publicKeys(id)).toThrow(/not an Ed25519 and an X25519 key/);
    store.delete(id);
    expect(store.has(id)).toBe(false);
  });
});
