/**
 * Ed25519 / X25519 key pairs made from 32 random bytes and imported, instead of `generateKeyPairSync`. On
 * Node 20, exporting from a key that `generateKeyPairSync` made can deadlock the process: the export holds
 * the key's mutex, an allocation inside it runs a garbage collection, and the collected key-generation job's
 * destructor waits for that same mutex — the event loop stops for good (seen with thousands of agents
 * registering on the bus). A key imported from its private bytes has no generation job behind it. The
 * private bytes are also the cheapest form to store: importing them takes a tenth of a PKCS#8 parse.
 */
import { createPrivateKey, createPublicKey, randomBytes, type KeyObject } from "node:crypto";

export type OkpCurve = "Ed25519" | "X25519";

/** Private and public keys of both curves are 32 bytes. */
export const OKP_KEY_BYTES = 32;

export interface GeneratedKeyPair {
  readonly privateKey: KeyObject;
  /** The raw 32-byte public key. */
  readonly publicKey: Uint8Array;
}

export function generateOkpKeyPair(curve: OkpCurve): GeneratedKeyPair {
  const seed = randomBytes(OKP_KEY_BYTES);
  const privateKey = okpPrivateKey(curve, seed);
  seed.fill(0);
  return { privateKey, publicKey: okpPublicKey(privateKey) };
}

/** The private key whose raw bytes (an Ed25519 seed or an X25519 scalar) are `bytes`. */
export function okpPrivateKey(curve: OkpCurve, bytes: Uint8Array): KeyObject {
  if (bytes.length !== OKP_KEY_BYTES) throw new Error(`expected a ${OKP_KEY_BYTES}-byte ${curve} private key, got ${bytes.length} bytes`);
  const d = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url");
  // `x` must be present for a JWK but is not read when `d` is: the public key is derived from `d`.
  return createPrivateKey({ key: { kty: "OKP", crv: curve, d, x: "" }, format: "jwk" });
}

/** The raw private bytes of a key made by `okpPrivateKey` / `generateOkpKeyPair`. */
export function okpPrivateBytes(privateKey: KeyObject): Buffer {
  return Buffer.from(privateKey.export({ format: "jwk" }).d as string, "base64url");
}

/** The raw 32-byte public key of an Ed25519 or X25519 private key. */
export function okpPublicKey(privateKey: KeyObject): Uint8Array {
  return new Uint8Array(Buffer.from(createPublicKey(privateKey).export({ format: "jwk" }).x as string, "base64url"));
}
