/**
 * Per-agent key material: an Ed25519 signing pair and an X25519 key-agreement pair, created on register.
 * Private keys never leave this module except as `exportPrivate` bytes, which the bus seals at rest before
 * persisting (see `durable-state.ts`): callers get public keys, signatures and per-message derived keys,
 * and the store prints as a count of agents (never key bytes) when logged or inspected.
 */
import {
  createPublicKey,
  diffieHellman,
  sign as edSign,
  verify as edVerify,
  type KeyObject,
} from "node:crypto";
import { inspect } from "node:util";
import { CommunicationError } from "../core/errors.js";
import { generateOkpKeyPair, OKP_KEY_BYTES, okpPrivateBytes, okpPrivateKey, okpPublicKey } from "../core/keypair.js";
import { hkdfSha256 } from "./hkdf.js";
import type { AgentId } from "../core/ids.js";

/** What other agents (and other runtime instances) need to talk to an agent: raw 32-byte public keys. */
export interface AgentPublicKeys {
  readonly signing_public_key: Uint8Array;
  readonly agreement_public_key: Uint8Array;
}

interface AgentKeys {
  readonly signing: KeyObject;
  readonly agreement: KeyObject;
  readonly publicKeys: AgentPublicKeys;
  /**
   * ECDH results by peer public key (base64), so each message pays for HKDF only. Raw bytes, as HKDF reads
   * them: a key object would be exported again for every message.
   */
  readonly shared: Map<string, Buffer>;
}

const MAX_SHARED_CACHE = 4096;
/** The format byte of `exportPrivate` output, then the two raw 32-byte private keys. */
const PRIVATE_FORMAT = 1;
const PRIVATE_BYTES = 1 + 2 * OKP_KEY_BYTES;
const MAX_PUBLIC_CACHE = 16_384;

const publicCache = new Map<string, KeyObject>();

/** A KeyObject for a raw Ed25519 or X25519 public key (cached: the same peers recur on every message). */
export function importPublicKey(raw: Uint8Array, curve: "Ed25519" | "X25519"): KeyObject {
  const x = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString("base64url");
  const cacheKey = `${curve}:${x}`;
  let key = publicCache.get(cacheKey);
  if (!key) {
    if (publicCache.size >= MAX_PUBLIC_CACHE) publicCache.clear();
    key = createPublicKey({ key: { kty: "OKP", crv: curve, x }, format: "jwk" });
    publicCache.set(cacheKey, key);
  }
  return key;
}

/** Checks an Ed25519 signature against a raw public key. Never throws for a bad key or signature. */
export function verifySignature(signingPublicKey: Uint8Array, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    return edVerify(null, data, importPublicKey(signingPublicKey, "Ed25519"), signature);
  } catch {
    return false;
  }
}

function checkPrivateFormat(agentId: AgentId, bytes: Uint8Array): void {
  if (bytes.length !== PRIVATE_BYTES || bytes[0] !== PRIVATE_FORMAT) {
    throw new CommunicationError("DECRYPTION_FAILED", `Stored keys of agent ${agentId} are not an Ed25519 and an X25519 key`, {
      details: { agent_id: agentId },
    });
  }
}

export class KeyStore {
  readonly #agents = new Map<AgentId, AgentKeys>();
  /**
   * Keys adopted from storage but not yet turned into key objects: importing a pair costs four key-object
   * operations, which a restart with many agents should not pay up front for agents that stay quiet.
   */
  readonly #adopted = new Map<AgentId, Uint8Array | (() => Uint8Array)>();

  /** Creates the agent's key pairs unless it has them already; returns its public keys. */
  create(agentId: AgentId): AgentPublicKeys {
    const existing = this.#get(agentId);
    if (existing) return existing.publicKeys;
    const signing = generateOkpKeyPair("Ed25519");
    const agreement = generateOkpKeyPair("X25519");
    return this.#set(agentId, signing.privateKey, agreement.privateKey, { signing_public_key: signing.publicKey, agreement_public_key: agreement.publicKey });
  }

  /** The agent's two private keys as bytes (a format byte, then the raw Ed25519 and X25519 keys), for sealing at rest. */
  exportPrivate(agentId: AgentId): Buffer {
    const keys = this.#require(agentId);
    return Buffer.concat([Buffer.of(PRIVATE_FORMAT), okpPrivateBytes(keys.signing), okpPrivateBytes(keys.agreement)]);
  }

  /**
   * Takes keys written by `exportPrivate` without importing them yet (replacing none: an agent that has keys
   * keeps them); they are imported the first time anything needs them. Bytes are checked now (any 32 bytes
   * are a key of either curve, so the format is all there is to check); a loader's bytes when it runs.
   */
  adoptPrivate(agentId: AgentId, bytes: Uint8Array | (() => Uint8Array)): void {
    if (typeof bytes !== "function") checkPrivateFormat(agentId, bytes);
    if (!this.has(agentId)) this.#adopted.set(agentId, bytes);
  }

  /** Installs keys written by `exportPrivate` (replacing none: an agent that has keys keeps them). */
  importPrivate(agentId: AgentId, bytes: Uint8Array): AgentPublicKeys {
    const existing = this.#agents.get(agentId);
    if (existing) return existing.publicKeys;
    checkPrivateFormat(agentId, bytes);
    return this.#add(agentId, okpPrivateKey("Ed25519", bytes.subarray(1, 1 + OKP_KEY_BYTES)), okpPrivateKey("X25519", bytes.subarray(1 + OKP_KEY_BYTES)));
  }

  #add(agentId: AgentId, signing: KeyObject, agreement: KeyObject): AgentPublicKeys {
    return this.#set(agentId, signing, agreement, { signing_public_key: okpPublicKey(signing), agreement_public_key: okpPublicKey(agreement) });
  }

  #set(agentId: AgentId, signing: KeyObject, agreement: KeyObject, publicKeys: AgentPublicKeys): AgentPublicKeys {
    this.#agents.set(agentId, { signing, agreement, publicKeys, shared: new Map() });
    return publicKeys;
  }

  has(agentId: AgentId): boolean {
    return this.#agents.has(agentId) || this.#adopted.has(agentId);
  }

  publicKeys(agentId: AgentId): AgentPublicKeys | undefined {
    return this.#get(agentId)?.publicKeys;
  }

  /** Forgets the agent's keys; messages sealed for it can no longer be opened here. */
  delete(agentId: AgentId): void {
    this.#agents.delete(agentId);
    this.#adopted.delete(agentId);
  }

  /** Ed25519 signature of `data` by the agent. */
  sign(agentId: AgentId, data: Uint8Array): Uint8Array {
    return edSign(null, data, this.#require(agentId).signing);
  }

  /**
   * HKDF-SHA256 over the X25519 secret shared by `agentId` and the peer: a fresh 32-byte key per `salt`
   * (the message id), bound to `info` (protocol, algorithm and both parties).
   */
  deriveKey(agentId: AgentId, peerAgreementKey: Uint8Array, salt: string, info: string): Buffer {
    const keys = this.#require(agentId);
    const peer = Buffer.from(peerAgreementKey.buffer, peerAgreementKey.byteOffset, peerAgreementKey.byteLength).toString("base64");
    let secret = keys.shared.get(peer);
    if (!secret) {
      secret = diffieHellman({ privateKey: keys.agreement, publicKey: importPublicKey(peerAgreementKey, "X25519") });
      if (keys.shared.size >= MAX_SHARED_CACHE) keys.shared.clear();
      keys.shared.set(peer, secret);
    }
    return hkdfSha256(secret, salt, info);
  }

  get size(): number {
    return this.#agents.size + this.#adopted.size;
  }

  #get(agentId: AgentId): AgentKeys | undefined {
    const keys = this.#agents.get(agentId);
    if (keys) return keys;
    const adopted = this.#adopted.get(agentId);
    if (!adopted) return undefined;
    this.importPrivate(agentId, typeof adopted === "function" ? adopted() : adopted);
    this.#adopted.delete(agentId);
    return this.#agents.get(agentId);
  }

  #require(agentId: AgentId): AgentKeys {
    const keys = this.#get(agentId);
    if (!keys) {
      throw new CommunicationError("AGENT_NOT_REGISTERED", `Agent ${agentId} has no keys on this runtime`, {
        details: { agent_id: agentId },
      });
    }
    return keys;
  }

  toJSON(): { agents: number } {
    return { agents: this.size };
  }

  [inspect.custom](): string {
    return `KeyStore { agents: ${this.size} }`;
  }
}
