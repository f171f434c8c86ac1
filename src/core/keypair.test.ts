import { createPublicKey, sign, verify } from "node:crypto";
import { describe, expect, it } from "vitest";
import { generateOkpKeyPair, rawPublicKey } from "./keypair.js";

describe("core - key pair generation", () => {
  it("hands out a private key object and the raw 32-byte public key that belongs to it", () => {
    const ed = generateOkpKeyPair("ed25519");
    expect(ed.privateKey.asymmetricKeyType).toBe("ed25519");
    expect(ed.publicKey).toHaveLength(32);
    const derived = rawPublicKey(createPublicKey(ed.privateKey).export({ type: "spki", format: "der" }));
    expect(Buffer.from(derived).equals(Buffer.from(ed.publicKey))).toBe(true);
    const data = Buffer.from("checkpoint");
    const pub = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(ed.publicKey).toString("base64url") }, format: "jwk" });
    expect(verify(null, data, pub, sign(null, data, ed.privateKey))).toBe(true);
    const x = generateOkpKeyPair("x25519");
    expect(x.privateKey.asymmetricKeyType).toBe("x25519");
    expect(Buffer.from(x.publicKey).equals(Buffer.from(ed.publicKey))).toBe(false);
  });

  it("refuses a public key that is not a 44-byte Ed25519/X25519 SPKI", () => {
    expect(() => rawPublicKey(Buffer.alloc(40))).toThrow(/44-byte SPKI/);
  });
});
