export type { ApiKeyInfo, ApiKeyRecord, ApiKeyStore, Principal } from "./types.js";
export { MemoryApiKeyStore } from "./memory-api-key-store.js";
export { SqliteApiKeyStore } from "./sqlite-api-key-store.js";
export { ApiKeyService, parseBearer, type CreateKeyInput, type CreatedKey, type PresentedKey } from "./service.js";
export { hashSecret, verifySecret } from "./hash.js";
