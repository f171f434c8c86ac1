/**
 * The secure envelope: how a `Message` travels. Wire layout (all lengths big-endian u32):
 *
 *   "SYB1" | header length | header | sealed payload | Ed25519 signature (64 bytes)
 *
 * The header (binary, see `encodeHeader`) carries the routing fields, timestamp, algorithm, nonce and flags;
 * it is the AEAD's associated
 * data, so it cannot be changed without failing decryption. The payload is compressed (when large enough and
 * enabled) and then sealed with AES-256-GCM or ChaCha20-Poly1305 under an HKDF key derived from the
 * sender/recipient X25519 secret with the message id as salt. The signature covers every byte before it, so
 * any change anywhere is caught before decryption is attempted.
 */
import {
  createCipheriv,
  createDecipheriv,
  randomBytes,
  type CipherChaCha20Poly1305,
  type CipherGCM,
  type DecipherChaCha20Poly1305,
  type DecipherGCM,
} from "node:crypto";
import { deflateRawSync, inflateRawSync } from "node:zlib";
import { CommunicationError } from "../core/errors.js";
import type { AgentId, MessageId } from "../core/ids.js";
import { PRIORITIES, type EncryptionAlgorithm, type Message, type Priority, type SecureMessage } from "../core/types.js";
import { verifySignature, type AgentPublicKeys, type KeyStore } from "./key-store.js";
import { uuidBytes } from "./uuid-bytes.js";
import type { VerifyPool } from "./verify-pool.js";

const MAGIC = Buffer.from("SYB1", "latin1");
const SIGNATURE_BYTES = 64;
const TAG_BYTES = 16;
const NONCE_BYTES = 12;
const PROTOCOL = "symbiont/bus/v1";

function cipher(alg: EncryptionAlgorithm, key: Buffer, nonce: Buffer): CipherGCM | CipherChaCha20Poly1305 {
  const opts = { authTagLength: TAG_BYTES };
  return alg === "Aes256Gcm" ? createCipheriv("aes-256-gcm", key, nonce, opts) : createCipheriv("chacha20-poly1305", key, nonce, opts);
}

function decipher(alg: EncryptionAlgorithm, key: Buffer, nonce: Buffer): DecipherGCM | DecipherChaCha20Poly1305 {
  const opts = { authTagLength: TAG_BYTES };
  return alg === "Aes256Gcm" ? createDecipheriv("aes-256-gcm", key, nonce, opts) : createDecipheriv("chacha20-poly1305", key, nonce, opts);
}

/** The signed routing and crypto parameters of one envelope. */
export interface EnvelopeHeader {
  readonly v: 1;
  readonly id: MessageId;
  readonly from: AgentId;
  readonly to: AgentId;
  readonly topic: string;
  readonly priority: Priority;
  readonly ttl: number;
  /** epoch ms when sealed */
  readonly ts: number;
  /** "none" when encryption is off: the payload is then signed but readable. */
  readonly alg: EncryptionAlgorithm | "none";
  /** payload deflated before sealing */
  readonly z: boolean;
  /** AEAD nonce (zeros when alg is none) */
  readonly n: Uint8Array;
  /** plaintext payload length */
  readonly size: number;
  readonly cid: MessageId | null;
}

export interface SealOptions {
  readonly encrypt: boolean;
  readonly algorithm: EncryptionAlgorithm;
  readonly compress: boolean;
  readonly compressionThreshold: number;
}

/** An envelope split into its parts; nothing in it is trusted until `openEnvelope` verifies it. */
export interface EnvelopeFrame {
  readonly header: EnvelopeHeader;
  readonly headerBytes: Buffer;
  readonly sealed: Buffer;
  readonly signature: Buffer;
  /** every byte the signature covers */
  readonly signed: Buffer;
}

/** Nonces are cut from a block of CSPRNG output, each part used once: one call per block, not per message. */
const NONCE_BLOCK = 341 * NONCE_BYTES;
let nonces = Buffer.alloc(0);
let nonceAt = 0;

function freshNonce(): Buffer {
  if (nonceAt + NONCE_BYTES > nonces.length) {
    nonces = randomBytes(NONCE_BLOCK);
    nonceAt = 0;
  }
  nonceAt += NONCE_BYTES;
  return nonces.subarray(nonceAt - NONCE_BYTES, nonceAt);
}

function info(alg: string, from: AgentId, to: AgentId): string {
  return `${PROTOCOL}|${alg}|${from}|${to}`;
}

const PRIORITY_CODE: Readonly<Record<Priority, number>> = { Low: 1, Normal: 2, High: 3, Critical: 4 };
const ALGS = ["none", "Aes256Gcm", "ChaCha20Poly1305"] as const;
const FLAG_DEFLATED = 1;
const FLAG_CORRELATED = 2;
/** version, id, from, to, priority, alg, flags, ttl, ts, size, nonce, topic length */
const FIXED_HEADER = 1 + 16 * 3 + 3 + 8 + 8 + 4 + NONCE_BYTES + 2;
const MAX_TOPIC_BYTES = 1024;

const HEX_CODES = Array.from("0123456789abcdef", (c) => c.charCodeAt(0));
/** The 36 character codes of the UUID being decoded (dashes stay in place). */
const UUID_CODES: number[] = new Array<number>(36).fill(45);

/**
 * Built as one flat string: a string concatenated piece by piece is a rope that every Map lookup keyed by
 * it must first flatten, and decoded ids are looked up several times per message.
 */
function uuidText(buf: Buffer, at: number): string {
  const codes = UUID_CODES;
  let o = 0;
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) o++;
    const b = buf[at + i] as number;
    codes[o++] = HEX_CODES[b >> 4] as number;
    codes[o++] = HEX_CODES[b & 15] as number;
  }
  return String.fromCharCode.apply(null, codes);
}

/**
 * Texts decoded lately, by a hash of their bytes: a few agents and topics recur in most messages, and a
 * byte comparison costs less than decoding them again.
 */
class RecentTexts {
  readonly #slots: ({ readonly bytes: Buffer; readonly text: string } | undefined)[] = new Array(256);
  readonly #decode: (buf: Buffer, at: number, end: number) => string;

  constructor(decode: (buf: Buffer, at: number, end: number) => string) {
    this.#decode = decode;
  }

  get(buf: Buffer, at: number, end: number): string {
    const length = end - at;
    const slot = (length * 31 + (buf[end - 1] ?? 0) * 7 + (buf[at] ?? 0)) & 255;
    const hit = this.#slots[slot];
    if (hit && hit.bytes.length === length) {
      let i = 0;
      while (i < length && hit.bytes[i] === buf[at + i]) i++;
      if (i === length) return hit.text;
    }
    const text = this.#decode(buf, at, end);
    this.#slots[slot] = { bytes: Buffer.from(buf.subarray(at, end)), text };
    return text;
  }
}

const agentIds = new RecentTexts((buf, at) => uuidText(buf, at));

/**
 * Bytes of agent ids encoded lately, by a few of their characters: the same senders and recipients recur in
 * most messages, and comparing a string costs less than parsing its hex again.
 */
class RecentIdBytes {
  readonly #slots: ({ readonly text: string; readonly bytes: Uint8Array } | undefined)[] = new Array(256);

  write(id: string, into: Buffer, at: number): void {
    const slot = (id.charCodeAt(0) * 31 + id.charCodeAt(34) * 7 + id.charCodeAt(35)) & 255;
    let hit = this.#slots[slot];
    if (hit?.text !== id) {
      hit = { text: id, bytes: new Uint8Array(16) };
      uuidBytes(id, hit.bytes, 0);
      this.#slots[slot] = hit;
    }
    const bytes = hit.bytes;
    for (let i = 0; i < 16; i++) into[at + i] = bytes[i] as number;
  }
}

const agentBytes = new RecentIdBytes();
const topics = new RecentTexts((buf, at, end) => buf.toString("utf8", at, end));

/** The byte length of an all-ASCII string (validated topics are), or -1. */
function asciiLength(text: string): number {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return -1;
  return text.length;
}

/** The version (1-8) and variant (10xx) bits a UUID must carry, checked on its 16 bytes. */
function uuidBytesValid(buf: Buffer, at: number): boolean {
  const version = (buf[at + 6] as number) >> 4;
  return version >= 1 && version <= 8 && ((buf[at + 8] as number) & 0xc0) === 0x80;
}

/**
 * The header's one binary encoding (big-endian), so the signed bytes of a header never vary:
 * u8 version | id | from | to (16 bytes each) | u8 priority 1-4 | u8 alg | u8 flags | f64 ttl | f64 ts |
 * u32 size | 12-byte nonce | [correlation id, 16 bytes, when flagged] | u16 topic length | topic (UTF-8)
 *
 * Written at offset `before` of a buffer with `after` bytes to spare past it (left unwritten), so an envelope's
 * framing and body go around the header without a copy of it.
 */
export function encodeHeader(h: EnvelopeHeader, before = 0, after = 0): Buffer {
  const ascii = asciiLength(h.topic);
  const topicLength = ascii >= 0 ? ascii : Buffer.byteLength(h.topic);
  const buf = Buffer.allocUnsafe(before + FIXED_HEADER + (h.cid ? 16 : 0) + topicLength + after);
  let o = before;
  buf[o++] = h.v;
  uuidBytes(h.id, buf, o);
  agentBytes.write(h.from, buf, o + 16);
  agentBytes.write(h.to, buf, o + 32);
  o += 48;
  buf[o++] = PRIORITY_CODE[h.priority];
  buf[o++] = ALGS.indexOf(h.alg);
  buf[o++] = (h.z ? FLAG_DEFLATED : 0) | (h.cid ? FLAG_CORRELATED : 0);
  o = buf.writeDoubleBE(h.ttl, o);
  o = buf.writeDoubleBE(h.ts, o);
  o = buf.writeUInt32BE(h.size, o);
  buf.set(h.n, o);
  o += NONCE_BYTES;
  if (h.cid) {
    uuidBytes(h.cid, buf, o);
    o += 16;
  }
  o = buf.writeUInt16BE(topicLength, o);
  if (ascii < 0) buf.write(h.topic, o, "utf8");
  else for (let i = 0; i < ascii; i++) buf[o + i] = h.topic.charCodeAt(i);
  return buf;
}

/** Seals `message` from its sender (whose keys are in `keys`) for a recipient with `recipient` public keys. */
export function sealEnvelope(
  message: Message,
  timestamp: number,
  keys: KeyStore,
  recipient: AgentPublicKeys,
  options: SealOptions,
): Uint8Array {
  let body: Buffer = Buffer.from(message.payload.buffer, message.payload.byteOffset, message.payload.byteLength);
  let z = false;
  if (options.compress && body.length > options.compressionThreshold) {
    const deflated = deflateRawSync(body);
    if (deflated.length < body.length) {
      body = deflated;
      z = true;
    }
  }
  const alg = options.encrypt ? options.algorithm : "none";
  const nonce = options.encrypt ? freshNonce() : Buffer.alloc(NONCE_BYTES);
  const header: EnvelopeHeader = {
    v: 1,
    id: message.id,
    from: message.from,
    to: message.to,
    topic: message.topic,
    priority: message.priority,
    ttl: message.ttl,
    ts: timestamp,
    alg,
    z,
    n: nonce,
    size: message.payload.byteLength,
    cid: message.correlation_id ?? null,
  };
  // The envelope is one buffer, header first, every other part written in place around it.
  const sealedLength = options.encrypt ? body.length + TAG_BYTES : body.length;
  const envelope = encodeHeader(header, MAGIC.length + 4, sealedLength + SIGNATURE_BYTES);
  const end = envelope.length - SIGNATURE_BYTES;
  const bodyAt = end - sealedLength;
  const headerBytes = envelope.subarray(MAGIC.length + 4, bodyAt);
  MAGIC.copy(envelope, 0);
  envelope.writeUInt32BE(headerBytes.length, MAGIC.length);
  if (!options.encrypt) body.copy(envelope, bodyAt);
  else {
    try {
      const key = keys.deriveKey(message.from, recipient.agreement_public_key, message.id, info(alg, message.from, message.to));
      const c = cipher(options.algorithm, key, nonce);
      c.setAAD(headerBytes, { plaintextLength: body.length });
      let o = bodyAt + c.update(body).copy(envelope, bodyAt);
      o += c.final().copy(envelope, o);
      c.getAuthTag().copy(envelope, o);
    } catch (err) {
      if (err instanceof CommunicationError) throw err;
      throw new CommunicationError("ENCRYPTION_FAILED", `Message ${message.id} could not be encrypted`, {
        details: { message_id: message.id, reason: err instanceof Error ? err.message : String(err) },
        cause: err,
      });
    }
  }
  envelope.set(keys.sign(message.from, envelope.subarray(0, end)), end);
  return envelope;
}

function invalid(reason: string, details: Record<string, unknown> = {}): CommunicationError {
  return new CommunicationError("INVALID_SIGNATURE", `Message rejected: ${reason}`, { details: { reason, ...details } });
}

/** Reads a header written by `encodeHeader`; INVALID_SIGNATURE when it is not one. */
export function decodeHeader(raw: Buffer): EnvelopeHeader {
  if (raw.length < FIXED_HEADER || raw[0] !== 1) throw invalid("malformed envelope header");
  const priority = PRIORITIES[(raw[49] ?? 0) - 1];
  const alg = ALGS[raw[50] ?? 99];
  const flags = raw[51] ?? 0xff;
  const correlated = (flags & FLAG_CORRELATED) !== 0;
  let o = 52;
  const ttl = raw.readDoubleBE(o);
  const ts = raw.readDoubleBE(o + 8);
  const size = raw.readUInt32BE(o + 16);
  o += 20;
  // A plain view: Buffer's subarray costs more, and the nonce is only read.
  const n = new Uint8Array(raw.buffer, raw.byteOffset + o, NONCE_BYTES);
  o += NONCE_BYTES;
  const cidAt = o;
  if (correlated) o += 16;
  if (o + 2 > raw.length) throw invalid("malformed envelope header");
  const topicLength = raw.readUInt16BE(o);
  o += 2;
  const ok =
    priority !== undefined &&
    alg !== undefined &&
    (flags & ~(FLAG_DEFLATED | FLAG_CORRELATED)) === 0 &&
    Number.isSafeInteger(ttl) &&
    ttl >= 0 &&
    Number.isSafeInteger(ts) &&
    topicLength <= MAX_TOPIC_BYTES &&
    o + topicLength === raw.length &&
    uuidBytesValid(raw, 1) &&
    uuidBytesValid(raw, 17) &&
    uuidBytesValid(raw, 33) &&
    (!correlated || uuidBytesValid(raw, cidAt));
  if (!ok) throw invalid("malformed envelope header");
  return {
    v: 1,
    id: uuidText(raw, 1) as MessageId,
    from: agentIds.get(raw, 17, 33) as AgentId,
    to: agentIds.get(raw, 33, 49) as AgentId,
    topic: topics.get(raw, o, o + topicLength),
    priority,
    ttl,
    ts,
    alg,
    z: (flags & FLAG_DEFLATED) !== 0,
    n,
    size,
    cid: correlated ? (uuidText(raw, cidAt) as MessageId) : null,
  };
}

/** Splits an envelope into its parts. Throws INVALID_SIGNATURE when it is not a well-formed envelope. */
export function readEnvelope(bytes: Uint8Array): EnvelopeFrame {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 8 + SIGNATURE_BYTES || !buf.subarray(0, 4).equals(MAGIC)) throw invalid("not a bus envelope");
  const headerLength = buf.readUInt32BE(4);
  if (8 + headerLength + SIGNATURE_BYTES > buf.length) throw invalid("truncated envelope");
  const headerBytes = buf.subarray(8, 8 + headerLength);
  const end = buf.length - SIGNATURE_BYTES;
  return {
    header: decodeHeader(headerBytes),
    headerBytes,
    sealed: buf.subarray(8 + headerLength, end),
    signature: buf.subarray(end),
    signed: buf.subarray(0, end),
  };
}

/** True when the envelope carries the sender's valid signature over every byte before it. */
export function verifyEnvelope(frame: EnvelopeFrame, sender: AgentPublicKeys): boolean {
  return verifySignature(sender.signing_public_key, frame.signed, frame.signature);
}

/**
 * Verifies the sender's signature, then decrypts (and inflates) the payload for the recipient named in the
 * header, whose keys must be in `keys`. Throws INVALID_SIGNATURE or DECRYPTION_FAILED.
 */
export function openEnvelope(
  frame: EnvelopeFrame,
  sender: AgentPublicKeys,
  keys: KeyStore,
  maxMessageSize: number,
): SecureMessage {
  if (!verifyEnvelope(frame, sender)) throw signatureMismatch(frame.header);
  return decryptEnvelope(frame, sender, keys, maxMessageSize);
}

/** The INVALID_SIGNATURE error for an envelope whose signature does not verify. */
export function signatureMismatch(h: EnvelopeHeader): CommunicationError {
  return invalid("signature does not verify against the sender's key", { message_id: h.id, from: h.from });
}

/** Decrypts (and inflates) an envelope whose signature was verified. Throws DECRYPTION_FAILED. */
export function decryptEnvelope(
  frame: EnvelopeFrame,
  sender: AgentPublicKeys,
  keys: KeyStore,
  maxMessageSize: number,
): SecureMessage {
  const h = frame.header;
  const failed = (reason: string, cause?: unknown): CommunicationError =>
    new CommunicationError("DECRYPTION_FAILED", `Message ${h.id} could not be decrypted: ${reason}`, {
      details: { message_id: h.id, from: h.from, to: h.to, reason },
      cause,
    });
  let body: Buffer = frame.sealed;
  if (h.alg !== "none") {
    if (body.length < TAG_BYTES) throw failed("sealed payload too short");
    try {
      const key = keys.deriveKey(h.to, sender.agreement_public_key, h.id, info(h.alg, h.from, h.to));
      const d = decipher(h.alg, key, Buffer.from(h.n));
      d.setAAD(frame.headerBytes, { plaintextLength: body.length - TAG_BYTES });
      d.setAuthTag(body.subarray(body.length - TAG_BYTES));
      body = Buffer.concat([d.update(body.subarray(0, body.length - TAG_BYTES)), d.final()]);
    } catch (err) {
      if (err instanceof CommunicationError) throw err;
      throw failed("authentication tag mismatch (wrong key or altered data)", err);
    }
  }
  if (h.z) {
    try {
      // Bounded: a small envelope must not inflate into an unbounded allocation.
      body = inflateRawSync(body, { maxOutputLength: Math.max(maxMessageSize, 1) });
    } catch (err) {
      throw failed("payload does not decompress within max_message_size", err);
    }
  }
  if (body.length !== h.size) throw failed(`payload is ${body.length} bytes, header says ${h.size}`);
  const message: Message = {
    id: h.id,
    from: h.from,
    to: h.to,
    topic: h.topic,
    payload: new Uint8Array(body.buffer, body.byteOffset, body.byteLength),
    priority: h.priority,
    ttl: h.ttl,
    ...(h.cid ? { correlation_id: h.cid } : {}),
  };
  return { message, signature: new Uint8Array(frame.signature), encrypted_payload: new Uint8Array(frame.sealed), timestamp: h.ts };
}

/** How the bus turns messages into envelopes and back; `secureCodec` is the only one the runtime uses. */
export interface EnvelopeCodec {
  seal(message: Message, timestamp: number, recipient: AgentPublicKeys): Uint8Array;
  /** Splits an envelope; its header is unauthenticated until `open` succeeds. */
  read(bytes: Uint8Array): EnvelopeFrame;
  /** Checks the sender's signature; a promise when the check runs on another thread. */
  verify(frame: EnvelopeFrame, sender: AgentPublicKeys): boolean | Promise<boolean>;
  /** Decrypts a verified envelope; throws DECRYPTION_FAILED. */
  decrypt(frame: EnvelopeFrame, sender: AgentPublicKeys): SecureMessage;
}

/**
 * The signed + encrypted codec over the bus's key store. With a `pool`, signatures are verified on worker
 * threads (only public data crosses); private-key work stays on the calling thread.
 */
export function secureCodec(keys: KeyStore, options: SealOptions & { readonly maxMessageSize: number }, pool?: VerifyPool): EnvelopeCodec {
  return {
    seal: (message, timestamp, recipient) => sealEnvelope(message, timestamp, keys, recipient, options),
    read: readEnvelope,
    // Both threads verify when the workers fall behind, so neither sits idle under load.
    verify: pool
      ? (frame, sender) =>
          pool.saturated ? pool.inline(() => verifyEnvelope(frame, sender)) : pool.verify(sender.signing_public_key, frame.signed, frame.signature)
      : (frame, sender) => verifyEnvelope(frame, sender),
    decrypt: (frame, sender) => decryptEnvelope(frame, sender, keys, options.maxMessageSize),
  };
}
