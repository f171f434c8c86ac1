/**
 * The Ed25519 key that signs checkpoints. It comes from config (`audit.signing_key`, a PKCS#8 PEM) or from a
 * file in the data dir, created on first start with mode 0600. A key file readable by group or others is
 * refused, as ssh does. The private key never leaves this module: callers get `sign()` and the public half.
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from "node:crypto";
import { generateOkpKeyPair } from "../core/keypair.js";
import { AuditError } from "../core/errors.js";
import { loadOrCreateSecretFile } from "../core/secret-file.js";
import { checkpointBytes } from "./chain.js";
import type { Checkpoint } from "./types.js";

export interface CheckpointSigner {
  readonly keyId: string;
  /** SPKI PEM. */
  readonly publicKeyPem: string;
  readonly publicKey: KeyObject;
  sign(cp: Omit<Checkpoint, "signature" | "key_id">): Checkpoint;
}

/** First 16 hex digits of SHA-256 over the DER SPKI encoding of an Ed25519 public key. */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash("sha256").update(publicKey.export({ type: "spki", format: "der" })).digest("hex").slice(0, 16);
}

/** Parses an SPKI PEM public key, insisting on Ed25519. */
export function parsePublicKey(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (err) {
    throw new AuditError("AUDIT_SIGNING_KEY_INVALID", "Cannot parse the audit public key (expected an SPKI PEM)", { cause: err });
  }
  if (key.asymmetricKeyType !== "ed25519") {
    throw new AuditError("AUDIT_SIGNING_KEY_INVALID", `The audit public key is ${key.asymmetricKeyType}, not ed25519`);
  }
  return key;
}

function signerFrom(privateKey: KeyObject): CheckpointSigner {
  if (privateKey.asymmetricKeyType !== "ed25519") {
    throw new AuditError("AUDIT_SIGNING_KEY_INVALID", `The audit signing key is ${privateKey.asymmetricKeyType}, not ed25519`);
  }
  const publicKey = createPublicKey(privateKey);
  const keyId = keyIdOf(publicKey);
  return {
    keyId,
    publicKey,
    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
    sign(cp) {
      const unsigned = { ...cp, key_id: keyId };
      return { ...unsigned, signature: sign(null, checkpointBytes(unsigned), privateKey).toString("base64") };
    },
  };
}

function parsePrivateKey(pem: string, where: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (err) {
    throw new AuditError("AUDIT_SIGNING_KEY_INVALID", `Cannot parse the audit signing key from ${where} (expected a PKCS#8 PEM)`, {
      cause: err,
      details: { where },
    });
  }
}

/** A signer from a PEM given in config. */
export function signerFromPem(pem: string): CheckpointSigner {
  return signerFrom(parsePrivateKey(pem, "audit.signing_key"));
}

/** A fresh in-memory key (tests, benchmarks, tools). */
export function generateSigner(): CheckpointSigner {
  return signerFrom(generateOkpKeyPair("Ed25519").privateKey);
}

/** Loads the key file, creating it (0600, exclusive create) when it does not exist. */
export function loadOrCreateKeyFile(file: string): CheckpointSigner {
  const { bytes } = loadOrCreateSecretFile(
    file,
    "audit signing key",
    () => Buffer.from(generateOkpKeyPair("Ed25519").privateKey.export({ type: "pkcs8", format: "pem" })),
    (_problem, message, cause) => new AuditError("AUDIT_SIGNING_KEY_INVALID", message, { details: { file }, ...(cause ? { cause } : {}) }),
  );
  return signerFrom(parsePrivateKey(bytes.toString("utf8"), file));
}


/** True when `cp.signature` is a valid Ed25519 signature by `publicKey`. */
export function checkpointSignatureValid(cp: Checkpoint, publicKey: KeyObject): boolean {
  try {
    return verify(null, checkpointBytes(cp), publicKey, Buffer.from(cp.signature, "base64"));
  } catch {
    return false;
  }
}
