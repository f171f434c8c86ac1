import { createPublicKey, diffieHellman, sign, verify } from "node:crypto";
import { describe, expect, it } from "vitest";
import { generateOkpKeyPair, okpPrivateBytes, okpPrivateKey, okpPublicKey } from "./keypair.js";

describe("core - key pairs", () => {
  it("an Ed25519 pair signs, and its raw public key verifies", () => {
    const ed = generateOkpKeyPair("Ed25519");
    expect(ed.privateKey.asymmetricKeyType).toBe("ed25519");
    expect(ed.publicKey).toHaveLength(32);
    const data = Buffer.from("checkpoint");
    const pub = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(ed.publicKey).toString("base64url") }, format: "jwk" });
    expect(verify(null, data, pub, sign(null, data, ed.privateKey))).toBe(true);
  });

  it("two X25519 pairs agree on one secret; private bytes round-trip to the same key", () => {
    const a = generateOkpKeyPair("X25519");
    const b = generateOkpKeyPair("X25519");
    expect(a.privateKey.asymmetricKeyType).toBe("x25519");
    const pubOf = (raw: Uint8Array) => createPublicKey({ key: { kty: "OKP", crv: "X25519", x: Buffer.from(raw).toString("base64url") }, format: "jwk" });
    const ab = diffieHellman({ privateKey: a.privateKey, publicKey: pubOf(b.publicKey) });
    const ba = diffieHellman({ privateKey: b.privateKey, publicKey: pubOf(a.publicKey) });
    expect(ab.equals(ba)).toBe(true);
    const again = okpPrivateKey("X25519", okpPrivateBytes(a.privateKey));
    expect(Buffer.from(okpPublicKey(again)).equals(Buffer.from(a.publicKey))).toBe(true);
  });

  it("refuses private bytes of the wrong length", () => {
    expect(() => okpPrivateKey("Ed25519", new Uint8Array(31))).toThrow(/32-byte Ed25519 private key/);
  });
});
