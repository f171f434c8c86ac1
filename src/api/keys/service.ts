/**
 * Creating, verifying and revoking API keys over any `ApiKeyStore`. Verification runs scrypt once per key
 * and then accepts the same secret from a short-lived cache of its SHA-256 digest (compared in constant
 * time), so authenticated requests do not pay scrypt each time. Revoking through this service drops the
 * cache entry at once; `key_cache_ttl` bounds how long a change made by another process can go unseen.
 * A request's token is parsed and digested once (`present`) and looked up in the cache once (`verified`),
 * and that one lookup serves both the rate limiter's choice of bucket and authentication. When an entry's
 * ttl runs out, the record is read again (revocation, expiry, scope) but scrypt runs again only if the stored
 * hash changed or the secret differs; concurrent requests that miss the cache for the same token share one
 * verification.
 */
import { hash, randomBytes } from "node:crypto";
import type { Clock } from "../../core/clock.js";
import { ApiError } from "../../core/errors.js";
import { hashSecret, safeEqual, verifySecret } from "./hash.js";
import type { ApiKeyInfo, ApiKeyRecord, ApiKeyStore, Principal } from "./types.js";

export interface CreateKeyInput {
  readonly name: string;
  readonly admin?: boolean;
  readonly agent_ids?: readonly string[] | null;
  readonly expires_at?: number | null;
}

export interface CreatedKey {
  readonly info: ApiKeyInfo;
  /** `<key_id>.<secret>`: shown once, never stored. */
  readonly token: string;
}

/** A bearer token as presented, parsed once, with the SHA-256 digest of its secret (what the cache holds). */
export interface PresentedKey {
  readonly keyId: string;
  readonly secret: string;
  readonly digest: string;
  /**
   * The cache entry this token was last found to match. A caller that keeps the token (per connection) finds
   * the same entry again by identity, without comparing secrets; set by the service only.
   */
  matched: VerifiedKey | undefined;
}

/** A token whose secret was verified recently: what `verified` finds in the cache. */
export interface VerifiedKey {
  readonly keyId: string;
  readonly principal: Principal;
  readonly keyExpiresAt: number | null;
}

interface CacheEntry extends VerifiedKey {
  readonly digest: string;
  /** The stored scrypt hash the secret was verified against: the same hash and digest need no scrypt again. */
  readonly hash: string;
  readonly expires: number;
}

const KEY_ID_RE = /^[0-9a-f]{16}$/;
const SECRET_RE = /^[A-Za-z0-9_-]{43}$/;
const TOUCH_EVERY_MS = 60_000;

function unauthorized(reason: string): ApiError {
  return new ApiError("UNAUTHORIZED", `A valid API key is required: ${reason}`, {
    details: { hint: "send Authorization: Bearer <key_id>.<secret>" },
  });
}

export function toInfo(r: ApiKeyRecord): ApiKeyInfo {
  const { hash: _hash, ...info } = r;
  return info;
}

function digest(secret: string): string {
  // The one-shot hash as a string: a createHash object, or a Buffer result, costs more than the digest itself.
  return hash("sha256", secret, "base64url");
}

export class ApiKeyService {
  readonly #store: ApiKeyStore;
  readonly #clock: Clock;
  readonly #ttl: number;
  readonly #cache = new Map<string, CacheEntry>();
  readonly #verifying = new Map<string, Promise<Principal>>();
  /** Bumped by every revocation: a verification that began before one does not cache what it read. */
  #revocations = 0;
  readonly #touched = new Map<string, number>();

  constructor(store: ApiKeyStore, clock: Clock, cacheTtlMs: number) {
    this.#store = store;
    this.#clock = clock;
    this.#ttl = cacheTtlMs;
  }

  get store(): ApiKeyStore {
    return this.#store;
  }

  async create(input: CreateKeyInput): Promise<CreatedKey> {
    const key_id = randomBytes(8).toString("hex");
    const secret = randomBytes(32).toString("base64url");
    const record: ApiKeyRecord = {
      key_id,
      name: input.name,
      hash: await hashSecret(secret),
      admin: input.admin ?? false,
      agent_ids: input.agent_ids ? [...new Set(input.agent_ids.map((a) => a.toLowerCase()))] : null,
      created_at: this.#clock.now(),
      expires_at: input.expires_at ?? null,
      revoked_at: null,
      last_used_at: null,
    };
    await this.#store.insert(record);
    return { info: toInfo(record), token: `${key_id}.${secret}` };
  }

  async list(): Promise<ApiKeyInfo[]> {
    return (await this.#store.list()).map(toInfo);
  }

  async get(keyId: string): Promise<ApiKeyInfo> {
    const rec = await this.#store.get(keyId);
    if (!rec) throw new ApiError("API_KEY_NOT_FOUND", `API key ${keyId} not found`, { details: { key_id: keyId } });
    return toInfo(rec);
  }

  async revoke(keyId: string): Promise<ApiKeyInfo> {
    this.#revocations++;
    this.#cache.delete(keyId);
    if (!(await this.#store.revoke(keyId, this.#clock.now()))) {
      throw new ApiError("API_KEY_NOT_FOUND", `API key ${keyId} not found`, { details: { key_id: keyId } });
    }
    this.#cache.delete(keyId);
    return this.get(keyId);
  }

  async countActive(): Promise<number> {
    return this.#store.countActive(this.#clock.now());
  }

  /** The `Authorization` header parsed and digested; undefined when it is absent or not a well-formed token. */
  present(authorization: string | undefined): PresentedKey | undefined {
    const parsed = parseBearer(authorization);
    return parsed && { keyId: parsed.keyId, secret: parsed.secret, digest: digest(parsed.secret), matched: undefined };
  }

  /**
   * The cache entry when `key` is a recently verified token (same secret), undefined otherwise (call `authenticate`). Picks
   * the rate-limit bucket, so that someone guessing secrets for a known key id is counted against their
   * address, not the key; `principalOf` then authenticates it without touching the store.
   */
  verified(key: PresentedKey | undefined): VerifiedKey | undefined {
    return key && this.#hit(key);
  }

  /** The caller behind a `verified` key; throws UNAUTHORIZED when the key has expired since it was verified. */
  principalOf(key: VerifiedKey): Principal {
    const now = this.#clock.now();
    if (key.keyExpiresAt !== null && key.keyExpiresAt <= now) throw unauthorized("key expired");
    this.#touch(key.keyId, now);
    return key.principal;
  }

  /** Resolves the `Authorization` header (already presented as `key`, when it was) to a principal or throws UNAUTHORIZED. */
  async authenticate(authorization: string | undefined, key = this.present(authorization)): Promise<Principal> {
    if (!authorization) throw unauthorized("no Authorization header");
    if (!key) throw unauthorized("malformed bearer token");
    const verified = this.#hit(key);
    if (verified) return this.principalOf(verified);
    const token = `${key.keyId}.${key.digest}`;
    let pending = this.#verifying.get(token);
    if (!pending) {
      pending = this.#verify(key).finally(() => this.#verifying.delete(token));
      this.#verifying.set(token, pending);
    }
    return pending;
  }

  async #verify(key: PresentedKey): Promise<Principal> {
    const { keyId, secret } = key;
    const revocations = this.#revocations;
    const rec = await this.#store.get(keyId);
    const prior = this.#cache.get(keyId);
    // Run scrypt even for unknown ids so a caller cannot tell ids apart by timing.
    const ok = rec && prior && prior.hash === rec.hash && safeEqual(prior.digest, key.digest) ? true : await verifySecret(secret, rec?.hash ?? DUMMY_HASH);
    const now = this.#clock.now();
    if (!rec || !ok) throw unauthorized("unknown key or wrong secret");
    if (rec.revoked_at !== null) throw unauthorized("key revoked");
    if (rec.expires_at !== null && rec.expires_at <= now) throw unauthorized("key expired");
    const principal: Principal = { key_id: rec.key_id, name: rec.name, admin: rec.admin, agent_ids: rec.agent_ids };
    if (revocations === this.#revocations) {
      this.#cache.set(keyId, { keyId, digest: key.digest, hash: rec.hash, principal, expires: this.#clock.monotonic() + this.#ttl, keyExpiresAt: rec.expires_at });
    }
    this.#touch(keyId, now);
    return principal;
  }

  #hit(key: PresentedKey): CacheEntry | undefined {
    const hit = this.#cache.get(key.keyId);
    if (!hit || hit.expires <= this.#clock.monotonic()) return undefined;
    // Entries are replaced, never changed: the same entry matched by the same token still matches.
    if (key.matched === hit) return hit;
    if (!safeEqual(hit.digest, key.digest)) return undefined;
    key.matched = hit;
    return hit;
  }

  /** Records last use at most once a minute per key; a failure here must not fail the request. */
  #touch(keyId: string, now: number): void {
    const last = this.#touched.get(keyId) ?? 0;
    if (now - last < TOUCH_EVERY_MS) return;
    this.#touched.set(keyId, now);
    this.#store.touch(keyId, now).catch(() => this.#touched.delete(keyId));
  }
}

const DUMMY_HASH = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/** Splits `Bearer <key_id>.<secret>`; undefined when the shape is wrong. */
export function parseBearer(header: string | undefined): { keyId: string; secret: string } | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+([^\s.]+)\.(\S+)$/i.exec(header.trim());
  if (!m) return undefined;
  const keyId = m[1] as string;
  const secret = m[2] as string;
  if (!KEY_ID_RE.test(keyId) || !SECRET_RE.test(secret)) return undefined;
  return { keyId, secret };
}
