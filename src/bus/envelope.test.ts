import { hkdfSync, randomBytes } from "node:crypto";
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { AgentId, MessageId } from "../core/ids.js";
import type { Message } from "../core/types.js";
import { openEnvelope, readEnvelope, sealEnvelope, type SealOptions } from "./envelope.js";
import { hkdfSha256 } from "./hkdf.js";
import { KeyStore } from "./key-store.js";
import { VerifyPool } from "./verify-pool.js";

const opts: SealOptions = { encrypt: true, algorithm: "Aes256Gcm", compress: true, compressionThreshold: 64 };

function setup() {
  const keys = new KeyStore();
  const a = AgentId.new();
  const b = AgentId.new();
  const pa = keys.create(a);
  const pb = keys.create(b);
  const message: Message = { id: MessageId.new(), from: a, to: b, topic: "t", payload: new TextEncoder().encode("secret payload"), priority: "Normal", ttl: 0 };
  return { keys, a, b, pa, pb, message };
}

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

describe("envelope - seal and open", () => {
  it("envelope - round trip for both algorithms, with and without compression", () => {
    const { keys, pa, pb, message } = setup();
    for (const algorithm of ["Aes256Gcm", "ChaCha20Poly1305"] as const) {
      for (const payload of [message.payload, new Uint8Array(10_000).fill(65)]) {
        const bytes = sealEnvelope({ ...message, id: MessageId.new(), payload }, 1, keys, pb, { ...opts, algorithm });
        const frame = readEnvelope(bytes);
        expect(frame.header.alg).toBe(algorithm);
        expect(frame.header.z).toBe(payload.length > 64);
        const opened = openEnvelope(frame, pa, keys, 1 << 20);
        expect(Buffer.from(opened.message.payload).equals(Buffer.from(payload))).toBe(true);
      }
    }
  });

  it("envelope - the per-message key differs for every message id, even with the same payload", () => {
    const { keys, pb, message } = setup();
    const one = readEnvelope(sealEnvelope(message, 1, keys, pb, opts));
    const two = readEnvelope(sealEnvelope({ ...message, id: MessageId.new() }, 1, keys, pb, opts));
    expect(one.sealed.equals(two.sealed)).toBe(false);
  });

  it("envelope - validly signed but sealed for someone else's key is DECRYPTION_FAILED", () => {
    const { keys, pa, message } = setup();
    const stranger = new KeyStore().create(AgentId.new());
    const bytes = sealEnvelope(message, 1, keys, stranger, opts);
    expect(code(() => openEnvelope(readEnvelope(bytes), pa, keys, 1 << 20))).toBe("DECRYPTION_FAILED");
  });

  it("envelope - a signature by another key is INVALID_SIGNATURE", () => {
    const { keys, pb, message } = setup();
    const bytes = sealEnvelope(message, 1, keys, pb, opts);
    const other = new KeyStore().create(AgentId.new());
    expect(code(() => openEnvelope(readEnvelope(bytes), other, keys, 1 << 20))).toBe("INVALID_SIGNATURE");
  });

  it("envelope - a compressed payload that inflates past max_message_size is refused", () => {
    const { keys, pa, pb, message } = setup();
    const bytes = sealEnvelope({ ...message, payload: new Uint8Array(200_000) }, 1, keys, pb, opts);
    expect(code(() => openEnvelope(readEnvelope(bytes), pa, keys, 1_000))).toBe("DECRYPTION_FAILED");
  });

  it("envelope - garbage and truncated input are INVALID_SIGNATURE", () => {
    const { keys, pb, message } = setup();
    const bytes = sealEnvelope(message, 1, keys, pb, opts);
    expect(code(() => readEnvelope(new Uint8Array(10)))).toBe("INVALID_SIGNATURE");
    expect(code(() => readEnvelope(bytes.subarray(0, 40)))).toBe("INVALID_SIGNATURE");
  });
});

describe("key store - secrecy", () => {
  it("key store - prints and serialises as a count, never key material", () => {
    const keys = new KeyStore();
    const pub = keys.create(AgentId.new());
    expect(JSON.stringify({ keys })).toBe('{"keys":{"agents":1}}');
    expect(inspect(keys)).toBe("KeyStore { agents: 1 }");
    expect(Object.keys(keys)).toEqual([]);
    expect(pub.signing_public_key.byteLength).toBe(32);
    expect(pub.agreement_public_key.byteLength).toBe(32);
  });

  it("key store - a forgotten agent can no longer sign", () => {
    const keys = new KeyStore();
    const id = AgentId.new();
    keys.create(id);
    keys.delete(id);
    expect(code(() => keys.sign(id, new Uint8Array(1)))).toBe("AGENT_NOT_REGISTERED");
  });
});

describe("verify pool - worker-thread signature checks", () => {
  it("verify pool - accepts good signatures and refuses altered ones, batched across workers", async () => {
    const { keys, pa, pb, message } = setup();
    const pool = new VerifyPool(2);
    try {
      const frames = Array.from({ length: 50 }, () => readEnvelope(sealEnvelope({ ...message, id: MessageId.new() }, 1, keys, pb, opts)));
      const results = await Promise.all(
        frames.map((f, i) => {
          const data = Buffer.from(f.signed);
          if (i % 3 === 0) data[20] = data[20]! ^ 1;
          return pool.verify(pa.signing_public_key, data, f.signature);
        }),
      );
      expect(results).toEqual(frames.map((_, i) => i % 3 !== 0));
      expect(await pool.verify(pb.signing_public_key, frames[1]!.signed, frames[1]!.signature)).toBe(false);
      // A truncated signature or key is refused, never misread as the next job's bytes.
      expect(await pool.verify(pa.signing_public_key, frames[1]!.signed, frames[1]!.signature.subarray(0, 63))).toBe(false);
      expect(await pool.verify(pa.signing_public_key.subarray(1), frames[1]!.signed, frames[1]!.signature)).toBe(false);
    } finally {
      await pool.close();
    }
    expect(await pool.verify(pa.signing_public_key, new Uint8Array(1), new Uint8Array(64))).toBe(false);
  });
});

describe("hkdf - per-message key derivation", () => {
  it("hkdf - matches node:crypto hkdfSync for many secrets, salts and infos", () => {
    for (let i = 0; i < 50; i++) {
      const raw = randomBytes(32);
      const salt = i % 5 === 0 ? "s".repeat(100) : MessageId.new();
      const info = `symbiont/bus/v1|Aes256Gcm|${"x".repeat(i * 3)}`;
      const expected = Buffer.from(hkdfSync("sha256", raw, salt, info, 32));
      expect(hkdfSha256(raw, salt, info).equals(expected)).toBe(true);
    }
  });
});
