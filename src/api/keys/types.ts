/**
 * API keys: who may call the HTTP API. A key is `<key_id>.<secret>`; only a scrypt hash of the secret is
 * stored. Admin keys manage keys; a key scoped to agent ids sees and acts on only those agents.
 *
 * `ApiKeyStore` persists key records. Each implementation owns its connection (the SQLite file handle) and
 * releases it in `close()`. It stores and returns records; hashing, verification and caching live in
 * `ApiKeyService` so every store behaves the same.
 */

/** One stored key. `hash` is `scrypt$N$r$p$<salt b64url>$<hash b64url>`; the secret itself is never stored. */
export interface ApiKeyRecord {
  readonly key_id: string;
  readonly name: string;
  readonly hash: string;
  readonly admin: boolean;
  /** Agent ids this key may act on; null means every agent. */
  readonly agent_ids: readonly string[] | null;
  /** Epoch ms. */
  readonly created_at: number;
  readonly expires_at: number | null;
  readonly revoked_at: number | null;
  readonly last_used_at: number | null;
}

export interface ApiKeyStore {
  /** Stores a new record; throws API_KEY_STORE_FAILED when the id exists or the store fails. */
  insert(record: ApiKeyRecord): Promise<void>;
  get(keyId: string): Promise<ApiKeyRecord | undefined>;
  /** Every record, revoked ones included, oldest first. */
  list(): Promise<ApiKeyRecord[]>;
  /** Marks the key revoked at `at`; false when there is no such key. Revoking twice keeps the first time. */
  revoke(keyId: string, at: number): Promise<boolean>;
  touch(keyId: string, at: number): Promise<void>;
  /** Number of keys that are neither revoked nor expired at `now`. */
  countActive(now: number): Promise<number>;
  close(): Promise<void>;
}

/** The public view of a key (no hash). */
export type ApiKeyInfo = Omit<ApiKeyRecord, "hash">;

/** What an authenticated request carries. `anonymous` is set only under --insecure-no-auth. */
export interface Principal {
  readonly key_id: string;
  readonly name: string;
  readonly admin: boolean;
  readonly agent_ids: readonly string[] | null;
  readonly anonymous?: boolean;
}
