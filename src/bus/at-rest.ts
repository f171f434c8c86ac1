/**
 * Encryption at rest for what the bus persists in the state store: agents' private keys and the plaintext
 * of dead letters. A 32-byte key-encryption key (KEK) lives in a file of its own in the data dir, created
 * with mode 0600 on first start, so a copy of the store (a backup, a shared PostgreSQL) holds nothing
 * usable without that file. Each record is AES-256-GCM sealed with the record's id as associated data, so
 * a sealed blob cannot be moved to another record. The KEK is never logged or returned.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { inspect } from "node:util";
import { StoreError } from "../core/errors.js";
import { loadOrCreateSecretFile } from "../core/secret-file.js";

const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const VERSION = 1;

export class AtRestCipher {
  readonly #key: Buffer;
  readonly #file: string;

  private constructor(key: Buffer, file: string) {
    this.#key = key;
    this.#file = file;
  }

  /**
   * Loads the KEK file, creating it (0600, exclusive create) when missing. STORE_CORRUPT when it is not a
   * KEK or is readable by group or others; STORE_UNAVAILABLE when it cannot be read or written.
   */
  static open(file: string): AtRestCipher {
    const { bytes: key } = loadOrCreateSecretFile(
      file,
      "bus key-encryption key",
      () => randomBytes(KEY_BYTES),
      (problem, message, cause) =>
        new StoreError(problem === "exposed" ? "STORE_CORRUPT" : "STORE_UNAVAILABLE", message, { details: { file }, ...(cause ? { cause } : {}) }),
    );
    if (key.length !== KEY_BYTES) {
      throw new StoreError("STORE_CORRUPT", `The bus key-encryption key file ${file} is not a ${KEY_BYTES}-byte key`, { details: { file } });
    }
    return new AtRestCipher(key, file);
  }

  /** version | nonce | ciphertext | tag, bound to `recordId`. */
  seal(plain: Uint8Array, recordId: string): Buffer {
    const nonce = randomBytes(NONCE_BYTES);
    const c = createCipheriv("aes-256-gcm", this.#key, nonce, { authTagLength: TAG_BYTES });
    c.setAAD(Buffer.from(recordId));
    return Buffer.concat([Buffer.of(VERSION), nonce, c.update(plain), c.final(), c.getAuthTag()]);
  }

  /** STORE_CORRUPT when the blob was altered, sealed for another record or under another KEK. */
  open(sealed: Uint8Array, recordId: string): Buffer {
    const buf = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
    try {
      if (buf.length < 1 + NONCE_BYTES + TAG_BYTES || buf[0] !== VERSION) throw new Error("not a sealed record");
      const d = createDecipheriv("aes-256-gcm", this.#key, buf.subarray(1, 1 + NONCE_BYTES), { authTagLength: TAG_BYTES });
      d.setAAD(Buffer.from(recordId));
      d.setAuthTag(buf.subarray(buf.length - TAG_BYTES));
      return Buffer.concat([d.update(buf.subarray(1 + NONCE_BYTES, buf.length - TAG_BYTES)), d.final()]);
    } catch (err) {
      throw new StoreError(
        "STORE_CORRUPT",
        `Stored bus record ${recordId} cannot be opened with the key-encryption key ${this.#file} (altered, or sealed under another key)`,
        { details: { file: this.#file, record: recordId }, cause: err },
      );
    }
  }

  toJSON(): { file: string } {
    return { file: this.#file };
  }

  [inspect.custom](): string {
    return `AtRestCipher { file: ${this.#file} }`;
  }
}
