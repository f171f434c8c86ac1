import { describeBusContract } from "./bus.contract.js";
import { MemoryTransport } from "./memory-transport.js";

describeBusContract("memory", async () => ({ transport: new MemoryTransport(), cleanup: async () => undefined }));

describeBusContract("memory, verifying on the main thread", async () => ({ transport: new MemoryTransport(), cleanup: async () => undefined }), {
  verify_threads: 0,
});
