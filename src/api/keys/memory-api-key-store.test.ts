import { describeApiKeyStoreContract } from "./api-key-store.contract.js";
import { MemoryApiKeyStore } from "./memory-api-key-store.js";

describeApiKeyStoreContract("memory", async () => new MemoryApiKeyStore());
