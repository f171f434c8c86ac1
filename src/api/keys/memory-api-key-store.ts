/**
 * API keys in process memory: for tests and throwaway runs (`api.key_store: memory`). Keys vanish at exit.
 */
import { ApiError } from "../../core/errors.js";
import type { ApiKeyRecord, ApiKeyStore } from "./types.js";

export class MemoryApiKeyStore implements ApiKeyStore {
  readonly #keys = new Map<string, ApiKeyRecord>();
  #closed = false;

  async insert(record: ApiKeyRecord): Promise<void> {
    this.#open();
    if (this.#keys.has(record.key_id)) {
      throw new ApiError("API_KEY_STORE_FAILED", `API key ${record.key_id} already exists`, { details: { key_id: record.key_id } });
    }
    this.#keys.set(record.key_id, { ...record, agent_ids: record.agent_ids ? [...record.agent_ids] : null });
  }

  async get(keyId: string): Promise<ApiKeyRecord | undefined> {
    this.#open();
    return this.#keys.get(keyId);
  }

  async list(): Promise<ApiKeyRecord[]> {
    this.#open();
    return [...this.#keys.values()].sort((a, b) => a.created_at - b.created_at);
  }

  async revoke(keyId: string, at: number): Promise<boolean> {
    this.#open();
    const rec = this.#keys.get(keyId);
    if (!rec) return false;
    if (rec.revoked_at === null) this.#keys.set(keyId, { ...rec, revoked_at: at });
    return true;
  }

  async touch(keyId: string, at: number): Promise<void> {
    this.#open();
    const rec = this.#keys.get(keyId);
    if (rec) this.#keys.set(keyId, { ...rec, last_used_at: at });
  }

  async countActive(now: number): Promise<number> {
    this.#open();
    let n = 0;
    for (const r of this.#keys.values()) if (r.revoked_at === null && (r.expires_at === null || r.expires_at > now)) n++;
    return n;
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #open(): void {
    if (this.#closed) throw new ApiError("API_KEY_STORE_FAILED", "The API key store is closed");
  }
}
