/**
 * Shared fixtures for the bus benchmarks: a bus over a given transport, 1 KB payloads, and a codec with no
 * cryptography (frames the header and payload only) to measure what the bus itself costs.
 */
import { SystemClock } from "../../src/core/clock.js";
import { resolveConfig, type RuntimeConfigInput } from "../../src/core/config/index.js";
import { RuntimeEvents } from "../../src/core/events.js";
import { AgentId, MessageId } from "../../src/core/ids.js";
import { silentLogger } from "../../src/core/logger.js";
import type { Message, SecureMessage } from "../../src/core/types.js";
import { decodeHeader, encodeHeader, type EnvelopeCodec, type EnvelopeFrame, type EnvelopeHeader } from "../../src/bus/envelope.js";
import { SecureCommunicationBus } from "../../src/bus/secure-bus.js";
import type { BusTransport } from "../../src/bus/transport.js";

export const PAYLOAD = new Uint8Array(1024).map((_, i) => (i * 31) & 0xff);
const NO_SIGNATURE = Buffer.alloc(0);
const NO_NONCE = Buffer.alloc(12);

/**
 * The bus's real header and framing, without signing or encryption. Never used by the runtime: it exists to
 * measure what the bus costs around its cryptography.
 */
export function plainCodec(): EnvelopeCodec {
  return {
    seal(m: Message, ts: number): Uint8Array {
      const header: EnvelopeHeader = { v: 1, id: m.id, from: m.from, to: m.to, topic: m.topic, priority: m.priority, ttl: m.ttl, ts, alg: "none", z: false, n: NO_NONCE, size: m.payload.byteLength, cid: m.correlation_id ?? null };
      const out = encodeHeader(header, 4, m.payload.byteLength);
      const bodyAt = out.length - m.payload.byteLength;
      out.writeUInt32BE(bodyAt - 4, 0);
      out.set(m.payload, bodyAt);
      return out;
    },
    read(bytes: Uint8Array): EnvelopeFrame {
      const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const len = buf.readUInt32BE(0);
      const headerBytes = buf.subarray(4, 4 + len);
      return { header: decodeHeader(headerBytes), headerBytes, sealed: buf.subarray(4 + len), signature: NO_SIGNATURE, signed: buf };
    },
    verify: () => true,
    decrypt(frame: EnvelopeFrame): SecureMessage {
      const h = frame.header;
      return {
        message: { id: h.id, from: h.from, to: h.to, topic: h.topic, payload: frame.sealed, priority: h.priority, ttl: h.ttl },
        signature: frame.signature,
        encrypted_payload: frame.sealed,
        timestamp: h.ts,
      };
    },
  };
}

export function makeBus(transport: BusTransport, communication: RuntimeConfigInput["communication"] = {}, plain = false): SecureCommunicationBus {
  const config = resolveConfig({ communication: { max_queue_size: 1_000_000, ...communication } }).communication;
  const clock = new SystemClock();
  const logger = silentLogger();
  return new SecureCommunicationBus({
    config,
    transport,
    authorizer: { check: async () => ({ allowed: true }) },
    clock,
    events: new RuntimeEvents(clock, logger),
    logger,
    ...(plain ? { codec: () => plainCodec() } : {}),
  });
}

export function message(from: AgentId, to: AgentId): Message {
  return { id: MessageId.new(), from, to, topic: "bench", payload: PAYLOAD, priority: "Normal", ttl: 0 };
}

/** Sends `n` messages from a to b in concurrent batches, receiving after each batch; returns ms. */
export async function pump(bus: SecureCommunicationBus, n: number, batch: number): Promise<number> {
  const a = AgentId.new();
  const b = AgentId.new();
  await bus.registerAgent(a, []);
  await bus.registerAgent(b, []);
  const start = performance.now();
  let received = 0;
  for (let sent = 0; sent < n; sent += batch) {
    const count = Math.min(batch, n - sent);
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < count; i++) sends.push(bus.sendMessage(message(a, b)));
    await Promise.all(sends);
    received += (await bus.receiveMessages(b)).length;
  }
  while (received < n) received += (await bus.receiveMessages(b)).length;
  return performance.now() - start;
}
