/**
 * Communication bus costs, each against a reference measured in the same run:
 *
 * - plain in-process throughput: the bus (memory transport) with a crypto-free codec, 1 KB messages, send
 *   + receive; baseline: the same number of pushes and shifts on a bare array queue.
 * - secure in-process throughput: the real signed + encrypted bus, against the crypto floor: one Ed25519
 *   sign + verify and one AES-256-GCM seal + open of the same 1 KB payload per message, nothing else.
 * - p99 send→receive latency of one secure message at a time, against the p99 of the crypto floor alone.
 *
 * Rates are the best of several rounds (alternating bus and reference) so that load from other processes
 * on a shared machine disturbs both sides alike.
 * - NATS: the bus over JetStream (crypto-free codec, so the transport is what is measured) against raw
 *   nats.js publishing the same payloads to a stream of the same shape and consuming them with acks.
 *
 * Run: `npm run bench -- bus` (NATS metrics need a JetStream server at SYMBIONT_TEST_NATS_URL or 127.0.0.1:4222)
 */
import { loadavg } from "node:os";
import { MemoryTransport } from "../../src/bus/memory-transport.js";
import { round, type Metric } from "../lib.js";
import { cryptoFloorRate, latencyP99 } from "./crypto.js";
import { makeBus, pump } from "./fixtures.js";
import { natsMetrics } from "./nats.js";

function rate(n: number, ms: number): number {
  return n / (ms / 1000);
}

function arrayQueueRate(n: number): number {
  const start = performance.now();
  const q: Uint8Array[] = [];
  let sum = 0;
  for (let i = 0; i < n; i += 1000) {
    for (let j = 0; j < 1000; j++) q.push(new Uint8Array(1024));
    while (q.length) sum += (q.shift() as Uint8Array).length;
  }
  if (sum !== n * 1024) throw new Error("array queue lost items");
  return rate(n, performance.now() - start);
}

/** Best rate and least CPU time (µs per message) over the rounds. */
async function plainRate(n: number, rounds: number): Promise<{ rate: number; cpuUs: number }> {
  const bus = makeBus(new MemoryTransport(), {}, true);
  await pump(bus, 5_000, 1_000); // warm-up
  let best = 0;
  let cpuUs = Infinity;
  for (let r = 0; r < rounds; r++) {
    const cpu = process.cpuUsage();
    best = Math.max(best, rate(n, await pump(bus, n, 1_000)));
    const used = process.cpuUsage(cpu);
    cpuUs = Math.min(cpuUs, (used.user + used.system) / n);
  }
  await bus.shutdown();
  return { rate: best, cpuUs };
}

/**
 * Secure bus rate and crypto floor rate, measured in alternating rounds so both see the same machine
 * conditions; each side keeps its best round (the least disturbed by other load).
 */
async function secureVsFloor(n: number, rounds: number): Promise<{ secure: number; floor: number; secureCpuUs: number; floorCpuUs: number }> {
  const bus = makeBus(new MemoryTransport(), { enable_compression: true });
  await pump(bus, 300, 100);
  let secure = 0;
  let floor = 0;
  let secureCpuUs = Infinity;
  let floorCpuUs = Infinity;
  for (let r = 0; r < rounds; r++) {
    let cpu = process.cpuUsage();
    floor = Math.max(floor, cryptoFloorRate(n));
    cpu = process.cpuUsage(cpu);
    floorCpuUs = Math.min(floorCpuUs, (cpu.user + cpu.system) / n);
    cpu = process.cpuUsage();
    secure = Math.max(secure, rate(n, await pump(bus, n, 100)));
    cpu = process.cpuUsage(cpu);
    secureCpuUs = Math.min(secureCpuUs, (cpu.user + cpu.system) / n);
  }
  await bus.shutdown();
  return { secure, floor, secureCpuUs, floorCpuUs };
}

export async function run(): Promise<Metric[]> {
  const metrics: Metric[] = [];
  // Wall-clock rates on a shared machine move with its load: recorded beside them.
  metrics.push({ name: "load_average_1m_at_start", value: round(loadavg()[0] ?? 0, 2), unit: "load" });

  const plainN = 50_000;
  const baseline = Math.max(arrayQueueRate(plainN), arrayQueueRate(plainN), arrayQueueRate(plainN));
  const plain = await plainRate(plainN, 3);
  metrics.push({ name: "plain_inprocess_throughput_1kb", value: Math.round(plain.rate), unit: "msg/s", baseline: Math.round(baseline), target: ">= 200000" });
  // What the rate would be on one free core: load-independent (CPU time, not wall time).
  metrics.push({ name: "plain_inprocess_cpu_per_message", value: round(plain.cpuUs, 2), unit: "us" });

  const { secure, floor, secureCpuUs, floorCpuUs } = await secureVsFloor(1_000, 5);
  metrics.push({
    name: "secure_inprocess_throughput_vs_crypto_floor",
    value: Math.round(secure),
    unit: "msg/s",
    baseline: Math.round(floor),
    ratio: round(secure / floor, 3),
    target: ">= 0.8",
  });

  // CPU time (all threads) per message: what the bus adds to the floor, whatever else the machine runs.
  metrics.push({
    name: "secure_cpu_per_message_vs_crypto_floor",
    value: round(secureCpuUs, 1),
    unit: "us",
    baseline: round(floorCpuUs, 1),
    ratio: round(secureCpuUs / floorCpuUs, 3),
  });

  const p99 = await latencyP99(2_000);
  metrics.push({ name: "secure_send_receive_p99_latency", value: round(p99.p99, 3), unit: "ms", baseline: round(p99.floorP99, 3), ratio: round(p99.p99 / p99.floorP99, 2) });

  metrics.push(...(await natsMetrics()));
  metrics.push({ name: "load_average_1m_at_end", value: round(loadavg()[0] ?? 0, 2), unit: "load" });
  return metrics;
}
