/**
 * HKDF-SHA256 (RFC 5869) for one 32-byte output block. `hkdfSync` pays a heavy per-call setup in OpenSSL that
 * is larger than the hashing itself; with `crypto.hash` (Node >= 20.12) the same construction — HMAC per
 * RFC 2104 over one-shot SHA-256 — costs a fraction of that. Outputs are identical (tested against
 * `hkdfSync`); on a Node without `crypto.hash` this falls back to `hkdfSync`.
 */
import * as nodeCrypto from "node:crypto";
import { hkdfSync } from "node:crypto";

type OneShotHash = (algorithm: string, data: Uint8Array, outputEncoding: "buffer") => Buffer;
const oneShot = (nodeCrypto as unknown as { hash?: OneShotHash }).hash;

const BLOCK = 64;
const ONE = Buffer.of(1);

function hmacSha256(hash: OneShotHash, key: Buffer, data: Buffer): Buffer {
  const k = key.length > BLOCK ? hash("sha256", key, "buffer") : key;
  const inner = Buffer.alloc(BLOCK + data.length);
  const outer = Buffer.alloc(BLOCK + 32);
  k.copy(inner);
  k.copy(outer);
  for (let i = 0; i < BLOCK; i++) {
    inner[i] = (inner[i] as number) ^ 0x36;
    outer[i] = (outer[i] as number) ^ 0x5c;
  }
  data.copy(inner, BLOCK);
  hash("sha256", inner, "buffer").copy(outer, BLOCK);
  return hash("sha256", outer, "buffer");
}

/** 32 bytes of HKDF-SHA256(ikm = `secret`, `salt`, `info`). */
export function hkdfSha256(secret: Buffer, salt: string, info: string): Buffer {
  if (!oneShot) return Buffer.from(hkdfSync("sha256", secret, salt, info, 32));
  const prk = hmacSha256(oneShot, Buffer.from(salt), secret);
  return hmacSha256(oneShot, prk, Buffer.concat([Buffer.from(info), ONE]));
}
