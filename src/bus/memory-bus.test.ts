import { SystemClock } from "../core/clock.js";
import { silentLogger } from "../core/logger.js";
import { createSqliteStateStore } from "../store/sqlite-state-store.js";
import { describeBusContract } from "./bus.contract.js";
import { MemoryTransport } from "./memory-transport.js";

describeBusContract("memory", async () => ({ transport: new MemoryTransport(), cleanup: async () => undefined }));

describeBusContract("memory, verifying on the main thread", async () => ({ transport: new MemoryTransport(), cleanup: async () => undefined }), {
  verify_threads: 0,
});

// Every message committed to a state store before it is acknowledged, its outcome written when settled.
describeBusContract("memory, committing to a state store", async () => {
  const store = await createSqliteStateStore({ file: ":memory:" });
  const transport = new MemoryTransport({ messages: store.messages, clock: new SystemClock(), logger: silentLogger() });
  return { transport, cleanup: () => store.close() };
});
