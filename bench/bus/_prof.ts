import { MemoryTransport } from "../../src/bus/memory-transport.js";
import { makeBus, pump } from "./fixtures.js";
const plain = process.argv[2] !== "secure";
const bus = makeBus(new MemoryTransport(), {}, plain);
const n = plain ? 50000 : 2000;
await pump(bus, 2000, plain ? 1000 : 100);
for (let r = 0; r < 3; r++) {
  const cpu = process.cpuUsage();
  const ms = await pump(bus, n, plain ? 1000 : 100);
  const c = process.cpuUsage(cpu);
  console.log(plain ? "plain" : "secure", Math.round(n / (ms / 1000)), "msg/s", ((c.user + c.system) / n).toFixed(1), "us cpu/msg");
}
await bus.shutdown();
