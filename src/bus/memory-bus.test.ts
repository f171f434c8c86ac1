import { describeBusContract } from "./bus.contract.js";
import { MemoryTransport } from "./memory-transport.js";

describeBusContract("memory", async () => ({ transport: new MemoryTransport(), cleanup: async () => undefined }));
