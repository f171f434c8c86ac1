/**
 * Key pair generation that never exports from a key whose generating job is still alive. On Node 20,
 * exporting (JWK, and any export that allocates) from a key made by `generateKeyPairSync` can deadlock the
 * process: the export holds the key's mutex, the allocation runs a garbage collection, and the collected
 * key-generation job's destructor waits for that same mutex — the event loop stops for good (seen with
 * thousands of agents registering on the bus). Here the generator hands out encoded bytes, and the private
 * key object is imported from them, so no later export touches a generated key.
 */
import { createPrivateKey, generateKeyPairSync, type KeyObject } from "node:crypto";

/** SPKI DER of an Ed25519 or X25519 public key: a fixed 12-byte header, then the 32-byte key. */
const SPKI_HEADER_BYTES = 12;
const RAW_KEY_BYTES = 32;

export interface GeneratedKeyPair {
  readonly privateKey: KeyObject;
  /** The raw 32-byte public key. */
  readonly publicKey: Uint8Array;
}

export function generateOkpKeyPair(type: "ed25519" | "x25519"): GeneratedKeyPair {
  const pair =
    type === "ed25519"
      ? generateKeyPairSync("ed25519", { publicKeyEncoding: { type: "spki", format: "der" }, privateKeyEncoding: { type: "pkcs8", format: "der" } })
      : generateKeyPairSync("x25519", { publicKeyEncoding: { type: "spki", format: "der" }, privateKeyEncoding: { type: "pkcs8", format: "der" } });
  return { privateKey: createPrivateKey({ key: pair.privateKey, format: "der", type: "pkcs8" }), publicKey: rawPublicKey(pair.publicKey) };
}

/** The raw 32-byte key inside an Ed25519 or X25519 SPKI DER. */
export function rawPublicKey(spki: Buffer): Uint8Array {
  if (spki.length !== SPKI_HEADER_BYTES + RAW_KEY_BYTES) throw new Error(`expected a ${SPKI_HEADER_BYTES + RAW_KEY_BYTES}-byte SPKI public key, got ${spki.length} bytes`);
  return new Uint8Array(spki.subarray(SPKI_HEADER_BYTES));
}
