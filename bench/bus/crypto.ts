/**
 * The crypto floor: what one message's cryptography costs with nothing around it, and latency probes.
 */
import { createCipheriv, createDecipheriv, generateKeyPairSync, randomBytes, sign, verify } from "node:crypto";
import { MemoryTransport } from "../../src/bus/memory-transport.js";
import { AgentId } from "../../src/core/ids.js";
import { percentile } from "../lib.js";
import { makeBus, message, PAYLOAD } from "./fixtures.js";

/** One message's worth of cryptography: an Ed25519 sign + verify and an AES-256-GCM seal + open of 1 KB. */
function floorOp(): () => void {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const key = randomBytes(32);
  return () => {
    const iv = randomBytes(12);
    const c = createCipheriv("aes-256-gcm", key, iv);
    const sealed = Buffer.concat([c.update(PAYLOAD), c.final()]);
    const tag = c.getAuthTag();
    const sig = sign(null, sealed, privateKey);
    if (!verify(null, sealed, publicKey, sig)) throw new Error("verify failed");
    const d = createDecipheriv("aes-256-gcm", key, iv);
    d.setAuthTag(tag);
    Buffer.concat([d.update(sealed), d.final()]);
  };
}

/** Messages/s if each cost exactly the floor operation. */
export function cryptoFloorRate(n: number): number {
  const once = floorOp();
  for (let i = 0; i < 200; i++) once();
  const start = performance.now();
  for (let i = 0; i < n; i++) once();
  return n / ((performance.now() - start) / 1000);
}

/** p99 of one secure send → receive at a time, and of the crypto floor for one message, in ms. */
export async function latencyP99(n: number): Promise<{ p99: number; floorP99: number }> {
  const bus = makeBus(new MemoryTransport());
  const a = AgentId.new();
  const b = AgentId.new();
  await bus.registerAgent(a, []);
  await bus.registerAgent(b, []);
  const times: number[] = [];
  for (let i = 0; i < n + 100; i++) {
    const start = performance.now();
    await bus.sendMessage(message(a, b));
    const got = await bus.receiveMessages(b);
    if (got.length !== 1) throw new Error("message lost");
    if (i >= 100) times.push(performance.now() - start);
  }
  await bus.shutdown();
  const floor: number[] = [];
  const once = floorOp();
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    once();
    floor.push(performance.now() - start);
  }
  times.sort((x, y) => x - y);
  floor.sort((x, y) => x - y);
  return { p99: percentile(times, 99), floorP99: percentile(floor, 99) };
}
