/**
 * The CommunicationBus contract, run against every transport: `describeBusContract(name, make)`. `make`
 * builds a bus over a recording transport so tests can see (and tamper with) the envelopes on the wire.
 */
import { describe, expect, it } from "vitest";
import type { Authorizer } from "../core/authorizer.js";
import { ManualClock } from "../core/clock.js";
import { resolveConfig, type RuntimeConfigInput } from "../core/config/index.js";
import { RuntimeError } from "../core/errors.js";
import { RuntimeEvents, type RuntimeEvent } from "../core/events.js";
import { AgentId, MessageId } from "../core/ids.js";
import { silentLogger } from "../core/logger.js";
import type { Message, Priority } from "../core/types.js";
import { readEnvelope, sealEnvelope } from "./envelope.js";
import { KeyStore } from "./key-store.js";
import { SecureCommunicationBus } from "./secure-bus.js";
import type { BusTransport, PublishMeta, TransportSink } from "./transport.js";
import type { CommunicationBus } from "./types.js";

export type CommunicationInput = NonNullable<RuntimeConfigInput["communication"]>;

export interface WireRecord {
  readonly to: AgentId;
  readonly bytes: Uint8Array;
}

/** A transport that records every published envelope and can hold them back (an interceptor on the wire). */
export class RecordingTransport implements BusTransport {
  readonly wire: WireRecord[] = [];
  intercepting = false;
  constructor(readonly inner: BusTransport) {}
  get kind() {
    return this.inner.kind;
  }
  get directory() {
    return this.inner.directory;
  }
  get maxEnvelopeSize() {
    return this.inner.maxEnvelopeSize;
  }
  setSink(sink: TransportSink): void {
    this.inner.setSink(sink);
  }
  async publish(to: AgentId, dedupId: MessageId, bytes: Uint8Array, meta: PublishMeta): Promise<void> {
    this.wire.push({ to, bytes: new Uint8Array(bytes) });
    if (!this.intercepting) await this.inner.publish(to, dedupId, bytes, meta);
  }
  /** Puts raw bytes on the wire, as an attacker (or a replay) would. */
  async inject(to: AgentId, bytes: Uint8Array): Promise<void> {
    await this.inner.publish(to, MessageId.new(), bytes, { from: to, topic: "injected", priority: "Normal", ttl: 60_000 });
  }
  attach = (id: AgentId) => this.inner.attach(id);
  attachAll = (ids: readonly AgentId[]) => this.inner.attachAll(ids);
  detach = (id: AgentId) => this.inner.detach(id);
  settle = (id: AgentId) => this.inner.settle(id);
  recordStatus = (id: MessageId, s: Parameters<BusTransport["recordStatus"]>[1]) => this.inner.recordStatus(id, s);
  lookupStatus = (id: MessageId) => this.inner.lookupStatus(id);
  close = () => this.inner.close();
}

export interface BusHarness {
  readonly bus: CommunicationBus;
  readonly transport: RecordingTransport;
  readonly clock: ManualClock;
  readonly seen: RuntimeEvent[];
  close(): Promise<void>;
}

export interface HarnessOptions {
  readonly communication?: CommunicationInput;
  readonly authorizer?: Authorizer;
}

/** Opens the transport under test (with this config) and returns it with a cleanup for after the bus closed. */
export type OpenTransport = (communication: CommunicationInput) => Promise<{ transport: BusTransport; cleanup(): Promise<void> }>;

const allowAll: Authorizer = { check: async () => ({ allowed: true }) };

export async function makeHarness(open: OpenTransport, options: HarnessOptions = {}): Promise<BusHarness> {
  const config = resolveConfig({ communication: options.communication ?? {} }).communication;
  const clock = new ManualClock();
  const logger = silentLogger();
  const events = new RuntimeEvents(clock, logger);
  const seen: RuntimeEvent[] = [];
  events.onAny((e) => seen.push(e));
  const { transport: inner, cleanup } = await open(config);
  const transport = new RecordingTransport(inner);
  const bus = new SecureCommunicationBus({ config, transport, authorizer: options.authorizer ?? allowAll, clock, events, logger });
  return {
    bus,
    transport,
    clock,
    seen,
    close: async () => {
      await bus.shutdown();
      await cleanup();
    },
  };
}

const text = (s: string) => new TextEncoder().encode(s);
const read = (b: Uint8Array) => new TextDecoder().decode(b);

export function msg(from: AgentId, to: AgentId, body: string, extra: Partial<Message> = {}): Message {
  return { id: MessageId.new(), from, to, topic: "test.topic", payload: text(body), priority: "Normal", ttl: 0, ...extra };
}

/** Polls (in real time) until `fn` returns a value that is not undefined/false. */
export async function eventually<T>(fn: () => Promise<T | undefined | false> | T | undefined | false, ms = 5_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return err instanceof RuntimeError ? err.code : `not a RuntimeError: ${String(err)}`;
  }
  return "resolved";
}

async function pair(h: BusHarness): Promise<[AgentId, AgentId]> {
  const a = AgentId.new();
  const b = AgentId.new();
  await h.bus.registerAgent(a, []);
  await h.bus.registerAgent(b, ["Network"]);
  return [a, b];
}

/** `base` is merged under every test's own communication settings. */
export function describeBusContract(name: string, open: OpenTransport, base: CommunicationInput = {}): void {
  const withBus = async (options: HarnessOptions, fn: (h: BusHarness) => Promise<void>) => {
    const h = await makeHarness(open, { ...options, communication: { ...base, ...options.communication } });
    try {
      await fn(h);
    } finally {
      await h.close();
    }
  };

  describe(`bus contract (${name})`, () => {
    it("bus - round trip delivers the decrypted message once and tracks its status", () =>
      withBus({}, async (h) => {
        const [a, b] = await pair(h);
        const m = msg(a, b, "hello, world", { priority: "High" });
        expect(await h.bus.sendMessage(m)).toBe(m.id);
        const got = await h.bus.receiveMessages(b);
        expect(got).toHaveLength(1);
        expect(read(got[0]!.message.payload)).toBe("hello, world");
        expect(got[0]!.message).toMatchObject({ id: m.id, from: a, to: b, topic: "test.topic", priority: "High" });
        expect(got[0]!.signature.byteLength).toBe(64);
        expect(got[0]!.timestamp).toBe(h.clock.now());
        expect(await h.bus.getMessageStatus(m.id)).toBe("Delivered");
        expect(await h.bus.receiveMessages(b)).toEqual([]);
        const types = h.seen.map((e) => e.type);
        expect(types).toContain("message.sent");
        expect(types).toContain("message.delivered");
        expect(await codeOf(h.bus.getMessageStatus(MessageId.new()))).toBe("MESSAGE_NOT_FOUND");
      }));

    it("bus - the wire never carries the plaintext when encryption is on", () =>
      withBus({}, async (h) => {
        const [a, b] = await pair(h);
        const secret = "the launch code is 0000-1111-2222";
        await h.bus.sendMessage(msg(a, b, secret));
        const wire = Buffer.from(h.transport.wire[0]!.bytes);
        expect(wire.includes(Buffer.from(secret))).toBe(false);
        const [got] = await h.bus.receiveMessages(b);
        expect(Buffer.from(got!.encrypted_payload).includes(Buffer.from(secret))).toBe(false);
        expect(read(got!.message.payload)).toBe(secret);
      }));

    it("bus - ChaCha20-Poly1305 round trip", () =>
      withBus({ communication: { encryption_algorithm: "ChaCha20Poly1305" } }, async (h) => {
        const [a, b] = await pair(h);
        await h.bus.sendMessage(msg(a, b, "via chacha"));
        expect(readEnvelope(h.transport.wire[0]!.bytes).header.alg).toBe("ChaCha20Poly1305");
        expect(read((await h.bus.receiveMessages(b))[0]!.message.payload)).toBe("via chacha");
      }));

    it("bus - encryption off still signs: plaintext on the wire, tampering still rejected", () =>
      withBus({ communication: { enable_encryption: false } }, async (h) => {
        const [a, b] = await pair(h);
        await h.bus.sendMessage(msg(a, b, "readable but signed"));
        const wire = h.transport.wire[0]!.bytes;
        expect(Buffer.from(wire).includes(Buffer.from("readable but signed"))).toBe(true);
        expect(readEnvelope(wire).header.alg).toBe("none");
        expect(read((await h.bus.receiveMessages(b))[0]!.message.payload)).toBe("readable but signed");
        h.transport.intercepting = true;
        await h.bus.sendMessage(msg(a, b, "pay 10 coins"));
        const forged = Buffer.from(h.transport.wire[1]!.bytes);
        const at = forged.indexOf(Buffer.from("10 coins"));
        forged[at] = "9".charCodeAt(0);
        await h.transport.inject(b, forged);
        expect(await h.bus.receiveMessages(b)).toEqual([]);
        expect((await h.bus.listDeadLetters()).map((d) => d.code)).toEqual(["INVALID_SIGNATURE"]);
      }));

    it("bus - a byte changed in any part of the envelope is rejected, dead-lettered and reported", () =>
      withBus({}, async (h) => {
        const [a, b] = await pair(h);
        h.transport.intercepting = true;
        const m = msg(a, b, "do not touch");
        await h.bus.sendMessage(m);
        const original = h.transport.wire[0]!.bytes;
        const frame = readEnvelope(original);
        const headerStart = 8;
        const sealedStart = headerStart + frame.headerBytes.length;
        const sigStart = original.length - 64;
        const spots = {
          magic: 1,
          length: 7,
          header_id: headerStart + 5,
          header_priority: headerStart + 49,
          header_topic: headerStart + frame.headerBytes.indexOf("test.topic"),
          ciphertext: sealedStart + 2,
          auth_tag: sigStart - 3,
          signature: sigStart + 10,
        };
        for (const [part, at] of Object.entries(spots)) {
          const bad = new Uint8Array(original);
          bad[at] = bad[at]! ^ 0x01;
          await h.transport.inject(b, bad);
          expect(await h.bus.receiveMessages(b), part).toEqual([]);
        }
        const dead = await h.bus.listDeadLetters();
        expect(dead).toHaveLength(Object.keys(spots).length);
        expect(new Set(dead.map((d) => d.code))).toEqual(new Set(["INVALID_SIGNATURE"]));
        expect(dead.every((d) => d.message === undefined)).toBe(true);
        expect(await h.bus.getMessageStatus(m.id)).toBe("Failed");
        expect(h.seen.filter((e) => e.type === "message.failed")).toHaveLength(Object.keys(spots).length);
      }));

    it("bus - a message signed with a key that is not the sender's is rejected", () =>
      withBus({}, async (h) => {
        const [a, b] = await pair(h);
        const impostor = new KeyStore();
        impostor.create(a); // same id, different keys
        const pub = await h.bus.getPublicKeys(b);
        const recipient = {
          signing_public_key: new Uint8Array(Buffer.from(pub.signing_public_key, "base64")),
          agreement_public_key: new Uint8Array(Buffer.from(pub.agreement_public_key, "base64")),
        };
        const forged = sealEnvelope(msg(a, b, "trust me"), h.clock.now(), impostor, recipient, {
          encrypt: true,
          algorithm: "Aes256Gcm",
          compress: false,
          compressionThreshold: 0,
        });
        await h.transport.inject(b, forged);
        expect(await h.bus.receiveMessages(b)).toEqual([]);
        const [dead] = await h.bus.listDeadLetters();
        expect(dead).toMatchObject({ code: "INVALID_SIGNATURE", from: a, to: b });
      }));

    it("bus - a replayed message is refused and its first delivery stands", () =>
      withBus({}, async (h) => {
        const [a, b] = await pair(h);
        const m = msg(a, b, "once only");
        await h.bus.sendMessage(m);
        expect(await h.bus.receiveMessages(b)).toHaveLength(1);
        await h.transport.inject(b, h.transport.wire[0]!.bytes);
        expect(await h.bus.receiveMessages(b)).toEqual([]);
        const [dead] = await h.bus.listDeadLetters();
        expect(dead).toMatchObject({ code: "REPLAY_DETECTED", message_id: m.id });
        expect(await h.bus.getMessageStatus(m.id)).toBe("Delivered");
        expect(h.seen.some((e) => e.type === "message.failed" && e.code === "REPLAY_DETECTED")).toBe(true);
      }));

    it("bus - an oversize payload is refused with its size and the limit", () =>
      withBus({ communication: { max_message_size: 1024 } }, async (h) => {
        const [a, b] = await pair(h);
        await h.bus.sendMessage({ ...msg(a, b, ""), payload: new Uint8Array(1024) });
        const err = await h.bus.sendMessage({ ...msg(a, b, ""), payload: new Uint8Array(1025) }).catch((e: unknown) => e);
        expect(err).toMatchObject({ code: "MESSAGE_TOO_LARGE", details: { size: 1025, max_size: 1024 } });
      }));

    it("bus - a full queue refuses the sender and nothing is dropped", () =>
      withBus({ communication: { max_queue_size: 3 } }, async (h) => {
        const [a, b] = await pair(h);
        for (let i = 0; i < 3; i++) await h.bus.sendMessage(msg(a, b, `m${i}`));
        await h.bus.receiveMessages(b).then((got) => expect(got).toHaveLength(3));
        for (let i = 3; i < 6; i++) await h.bus.sendMessage(msg(a, b, `m${i}`));
        if (h.transport.kind === "nats") await h.transport.settle(b);
        const refused = msg(a, b, "one too many");
        expect(await codeOf(h.bus.sendMessage(refused))).toBe("AGENT_QUEUE_FULL");
        expect(await codeOf(h.bus.getMessageStatus(refused.id))).toBe("MESSAGE_NOT_FOUND");
        expect((await h.bus.receiveMessages(b)).map((s) => read(s.message.payload))).toEqual(["m3", "m4", "m5"]);
        await h.bus.sendMessage(msg(a, b, "room again"));
        expect(await h.bus.receiveMessages(b)).toHaveLength(1);
      }));

    it("bus - expired messages are never delivered and end Expired", () =>
      withBus({ communication: { message_ttl: 10_000 } }, async (h) => {
        const [a, b] = await pair(h);
        const short = msg(a, b, "short", { ttl: 1_000 });
        const capped = msg(a, b, "capped by message_ttl", { ttl: 60_000 });
        const lasting = msg(a, b, "lasting", { ttl: 0 });
        for (const m of [short, capped, lasting]) await h.bus.sendMessage(m);
        await h.transport.settle(b);
        await h.clock.advance(2_000);
        // verification may still be finishing on a worker thread; expiry is judged on the signed timestamp
        await eventually(async () => (await h.bus.getMessageStatus(short.id)) === "Expired");
        expect(h.seen.some((e) => e.type === "message.expired" && e.message_id === short.id)).toBe(true);
        expect((await h.bus.receiveMessages(b)).map((s) => read(s.message.payload))).toEqual(["capped by message_ttl", "lasting"]);
        const late = msg(a, b, "late", { ttl: 0 });
        await h.bus.sendMessage(late);
        await h.transport.settle(b);
        await h.clock.advance(10_001);
        expect(await h.bus.receiveMessages(b)).toEqual([]);
        expect(await h.bus.getMessageStatus(late.id)).toBe("Expired");
      }));

    it("bus - an unregistered recipient: AGENT_NOT_REGISTERED, dead letter, Failed, replayable later", () =>
      withBus({}, async (h) => {
        const [a] = await pair(h);
        const ghost = AgentId.new();
        const m = msg(a, ghost, "anyone there?");
        expect(await codeOf(h.bus.sendMessage(m))).toBe("AGENT_NOT_REGISTERED");
        expect(await h.bus.getMessageStatus(m.id)).toBe("Failed");
        const [dead] = await h.bus.listDeadLetters();
        expect(dead).toMatchObject({ id: m.id, code: "AGENT_NOT_REGISTERED", to: ghost });
        expect(read(dead!.message!.payload)).toBe("anyone there?");
        expect(h.seen.some((e) => e.type === "message.failed" && e.message_id === m.id)).toBe(true);
        await h.bus.registerAgent(ghost, []);
        const again = await h.bus.replayDeadLetter(dead!.id);
        expect(read((await h.bus.receiveMessages(ghost))[0]!.message.payload)).toBe("anyone there?");
        expect(await h.bus.getMessageStatus(again)).toBe("Delivered");
        expect(await h.bus.listDeadLetters()).toEqual([]);
        expect(await codeOf(h.bus.sendMessage(msg(AgentId.new(), a, "x")))).toBe("AGENT_NOT_REGISTERED");
      }));

    it("bus - broadcast fans out to each matching subscriber, wildcards included", () =>
      withBus({}, async (h) => {
        const [sender] = await pair(h);
        const subs: Record<string, AgentId> = {};
        for (const pattern of ["orders.>", "orders.eu.created", "orders.*.created", "orders.*", "billing.>"]) {
          subs[pattern] = AgentId.new();
          await h.bus.registerAgent(subs[pattern]!, []);
          await h.bus.subscribeToTopic(subs[pattern]!, pattern);
        }
        await h.bus.subscribeToTopic(sender, "orders.>");
        const ids = await h.bus.broadcastMessage("orders.eu.created", msg(sender, sender, "order 42"));
        expect(ids).toHaveLength(3);
        expect(new Set(ids).size).toBe(3);
        for (const pattern of ["orders.>", "orders.eu.created", "orders.*.created"]) {
          const got = await h.bus.receiveMessages(subs[pattern]!);
          expect(got.map((s) => read(s.message.payload)), pattern).toEqual(["order 42"]);
          expect(got[0]!.message.topic).toBe("orders.eu.created");
        }
        for (const pattern of ["orders.*", "billing.>"]) expect(await h.bus.receiveMessages(subs[pattern]!)).toEqual([]);
        expect(await h.bus.receiveMessages(sender)).toEqual([]);
        // each copy is sealed for its own recipient
        const sealed = h.transport.wire.map((w) => Buffer.from(readEnvelope(w.bytes).sealed).toString("hex"));
        expect(new Set(sealed).size).toBe(3);
        expect(await codeOf(h.bus.broadcastMessage("nobody.listens", msg(sender, sender, "x")))).toBe("TOPIC_NOT_FOUND");
        expect(await codeOf(h.bus.broadcastMessage("orders.*", msg(sender, sender, "x")))).toBe("VALIDATION_FAILED");
        expect(await codeOf(h.bus.subscribeToTopic(sender, "a.>.b"))).toBe("VALIDATION_FAILED");
      }));

    it("bus - unsubscribe stops delivery and updates the agent's topics", () =>
      withBus({}, async (h) => {
        const [a, b] = await pair(h);
        await h.bus.subscribeToTopic(b, "news.>");
        await h.bus.subscribeToTopic(b, "alerts.*");
        expect(await h.bus.getAgentTopics(b)).toEqual(["alerts.*", "news.>"]);
        await h.bus.unsubscribeFromTopic(b, "news.>");
        expect(await h.bus.getAgentTopics(b)).toEqual(["alerts.*"]);
        expect(await codeOf(h.bus.broadcastMessage("news.today", msg(a, a, "x")))).toBe("TOPIC_NOT_FOUND");
        expect(await h.bus.broadcastMessage("alerts.fire", msg(a, a, "x"))).toHaveLength(1);
        expect(await codeOf(h.bus.unsubscribeFromTopic(b, "news.>"))).toBe("TOPIC_NOT_FOUND");
      }));

    it("bus - unregister dead-letters queued messages and removes subscriptions", () =>
      withBus({}, async (h) => {
        const [a, b] = await pair(h);
        await h.bus.subscribeToTopic(b, "jobs.>");
        const queued = [msg(a, b, "q1"), msg(a, b, "q2", { priority: "Critical" })];
        for (const m of queued) await h.bus.sendMessage(m);
        await h.bus.unregisterAgent(b);
        const dead = await h.bus.listDeadLetters();
        expect(dead.map((d) => read(d.message!.payload)).sort()).toEqual(["q1", "q2"]);
        expect(dead.every((d) => d.code === "AGENT_NOT_REGISTERED")).toBe(true);
        for (const m of queued) expect(await h.bus.getMessageStatus(m.id)).toBe("Failed");
        expect(await codeOf(h.bus.getAgentTopics(b))).toBe("AGENT_NOT_REGISTERED");
        expect(await codeOf(h.bus.broadcastMessage("jobs.new", msg(a, a, "x")))).toBe("TOPIC_NOT_FOUND");
        expect(await codeOf(h.bus.sendMessage(msg(a, b, "late")))).toBe("AGENT_NOT_REGISTERED");
        expect(h.seen.some((e) => e.type === "bus.agent_unregistered" && e.dead_lettered === 2)).toBe(true);
      }));

    it("bus - request resolves with the correlated reply; no reply is REQUEST_TIMEOUT", () =>
      withBus({}, async (h) => {
        const [a, b] = await pair(h);
        h.bus.onMessage(b, async (incoming) => {
          await h.bus.reply(incoming.message, text(`echo: ${read(incoming.message.payload)}`));
        });
        const answer = await h.bus.request(msg(a, b, "ping"), 60_000);
        expect(read(answer.message.payload)).toBe("echo: ping");
        expect(answer.message.from).toBe(b);
        expect(await h.bus.receiveMessages(a)).toEqual([]); // the reply went to the request, not the queue
        const c = AgentId.new();
        await h.bus.registerAgent(c, []);
        const pending = h.bus.request(msg(a, c, "silence"), 5_000);
        const outcome = codeOf(pending);
        await h.transport.settle(c);
        await h.clock.advance(5_001);
        expect(await outcome).toBe("REQUEST_TIMEOUT");
      }));

    it("bus - each queue delivers Critical first and FIFO within a priority", () =>
      withBus({}, async (h) => {
        const [a, b] = await pair(h);
        const order: [string, Priority][] = [
          ["low-1", "Low"],
          ["normal-1", "Normal"],
          ["critical-1", "Critical"],
          ["high-1", "High"],
          ["low-2", "Low"],
          ["critical-2", "Critical"],
          ["normal-2", "Normal"],
        ];
        for (const [body, priority] of order) await h.bus.sendMessage(msg(a, b, body, { priority }));
        const got = (await h.bus.receiveMessages(b)).map((s) => read(s.message.payload));
        expect(got).toEqual(["critical-1", "critical-2", "high-1", "normal-1", "normal-2", "low-1", "low-2"]);
      }));

    it("bus - a 1 MB payload is compressed before encryption and restored exactly", () =>
      withBus({}, async (h) => {
        const [a, b] = await pair(h);
        const line = "the quick brown fox jumps over the lazy dog; ";
        const big = Buffer.alloc(1024 * 1024);
        for (let i = 0; i < big.length; i++) big[i] = line.charCodeAt(i % line.length) ^ (i % 7 === 0 ? (i >> 10) & 1 : 0);
        await h.bus.sendMessage({ ...msg(a, b, ""), payload: new Uint8Array(big) });
        const wire = h.transport.wire[0]!.bytes;
        expect(readEnvelope(wire).header.z).toBe(true);
        expect(wire.byteLength).toBeLessThan(big.length / 10);
        const [got] = await h.bus.receiveMessages(b);
        expect(Buffer.from(got!.message.payload).equals(big)).toBe(true);
      }));

    it("bus - concurrent senders lose nothing (count and content)", () =>
      withBus({ communication: { max_queue_size: 10_000 } }, async (h) => {
        const b = AgentId.new();
        await h.bus.registerAgent(b, []);
        const senders = Array.from({ length: 5 }, () => AgentId.new());
        for (const s of senders) await h.bus.registerAgent(s, []);
        const perSender = 40;
        await Promise.all(
          senders.map(async (s, si) => {
            await Promise.all(Array.from({ length: perSender }, (_, i) => h.bus.sendMessage(msg(s, b, `${si}:${i}`))));
          }),
        );
        const got: string[] = [];
        await eventually(async () => {
          got.push(...(await h.bus.receiveMessages(b)).map((s) => read(s.message.payload)));
          return got.length >= senders.length * perSender;
        });
        const expected = senders.flatMap((_, si) => Array.from({ length: perSender }, (_, i) => `${si}:${i}`));
        expect(got.sort()).toEqual(expected.sort());
      }));

    it("bus - the authorizer is asked before send and subscribe; a denial is POLICY_DENIED", () => {
      const seenRequests: string[] = [];
      const authorizer: Authorizer = {
        check: async (r) => {
          seenRequests.push(`${r.action} ${r.resource}`);
          return r.resource === "forbidden.>" || r.context?.topic === "secret" ? { allowed: false, reason: "nope", policy_id: "p1" } : { allowed: true };
        },
      };
      return withBus({ authorizer }, async (h) => {
        const [a, b] = await pair(h);
        await h.bus.sendMessage(msg(a, b, "fine"));
        expect(seenRequests).toContain(`message.send ${b}`);
        const denied = msg(a, b, "x", { topic: "secret" });
        expect(await codeOf(h.bus.sendMessage(denied))).toBe("POLICY_DENIED");
        expect(await codeOf(h.bus.getMessageStatus(denied.id))).toBe("MESSAGE_NOT_FOUND");
        expect(await codeOf(h.bus.subscribeToTopic(b, "forbidden.>"))).toBe("POLICY_DENIED");
        expect(await h.bus.getAgentTopics(b)).toEqual([]);
        expect(h.seen.filter((e) => e.type === "policy.denied")).toHaveLength(2);
      });
    });

    it("bus - onMessage pushes messages in priority order and retries a failing handler before dead-lettering", () =>
      withBus({ communication: { retry_attempts: 2 } }, async (h) => {
        const [a, b] = await pair(h);
        await h.bus.sendMessage(msg(a, b, "first", { priority: "Low" }));
        await h.bus.sendMessage(msg(a, b, "urgent", { priority: "Critical" }));
        const poison = msg(a, b, "poison");
        await h.bus.sendMessage(poison);
        await h.transport.settle(b);
        const handled: string[] = [];
        let poisonCalls = 0;
        const detach = h.bus.onMessage(b, (m) => {
          const body = read(m.message.payload);
          if (body === "poison") {
            poisonCalls++;
            throw new Error("cannot digest");
          }
          handled.push(body);
        });
        await eventually(() => handled.length === 2 && poisonCalls === 3);
        expect(handled).toEqual(["urgent", "first"]);
        const dead = await eventually(async () => (await h.bus.listDeadLetters())[0]);
        expect(dead).toMatchObject({ code: "DELIVERY_FAILED", message_id: poison.id, attempts: 3 });
        expect(await h.bus.getMessageStatus(poison.id)).toBe("Failed");
        expect(h.seen.filter((e) => e.type === "message.retried")).toHaveLength(2);
        detach();
        await h.bus.sendMessage(msg(a, b, "after detach"));
        expect((await h.bus.receiveMessages(b)).map((s) => read(s.message.payload))).toEqual(["after detach"]);
      }));

    it("bus - calls after shutdown are refused", async () => {
      const h = await makeHarness(open, { communication: base });
      const [a, b] = await pair(h);
      await h.close();
      await h.bus.shutdown();
      expect(await codeOf(h.bus.sendMessage(msg(a, b, "x")))).toBe("RUNTIME_SHUT_DOWN");
    });
  });
}
