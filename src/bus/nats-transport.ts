/**
 * The NATS JetStream transport. Per namespace it uses three streams:
 *
 * - `SYMBIONT_<ns>` (work queue) on `symbiont.<ns>.agent.<id>`: each agent's envelopes, bounded per agent
 *   by the server (`max_msgs_per_subject` = max_queue_size, new messages refused when full), de-duplicated
 *   by message id (`Nats-Msg-Id`). Each agent has a durable pull consumer with explicit acks: an envelope
 *   leaves the stream only when the bus acknowledges it, and is redelivered after `delivery_timeout` if the
 *   instance holding it dies first. While the bus holds an envelope it tells the server it is still working.
 * - `SYMBIONT_<ns>_DIR` (last value per subject) on `symbiont.<ns>.dir.<id>`: the agent directory (public
 *   keys and topic patterns) every instance mirrors, so instances deliver to each other's agents.
 * - `SYMBIONT_<ns>_STATUS` (last value per subject, aged out after message_ttl): final delivery statuses
 *   recorded by the recipient's instance for senders on other instances.
 *
 * The transport owns its NATS connection and drains it on close.
 */
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type StreamConfig,
} from "@nats-io/jetstream";
import { connect, nanos, type NatsConnection } from "@nats-io/transport-node";
import type { CommunicationConfig } from "../core/config/index.js";
import { CommunicationError } from "../core/errors.js";
import type { AgentId, MessageId } from "../core/ids.js";
import type { Logger } from "../core/logger.js";
import type { DeliveryStatus } from "../core/types.js";
import type { BusTransport, Directory, DirectoryEntry, PublishMeta, TransportDelivery, TransportSink } from "./transport.js";

const DUPLICATE_WINDOW_MS = 120_000;
const CONSUME_BATCH = 256;
const SETTLE_POLL_MS = 5;
const SETTLE_MAX_MS = 2_000;
const STATUSES: readonly DeliveryStatus[] = ["Pending", "Delivered", "Failed", "Expired"];

function unavailable(what: string, err: unknown, details: Record<string, unknown> = {}): CommunicationError {
  const reason = err instanceof Error ? err.message : String(err);
  return new CommunicationError("TRANSPORT_UNAVAILABLE", `NATS ${what} failed: ${reason}`, { details: { reason, ...details }, cause: err });
}

function isQueueFull(err: unknown): boolean {
  return err instanceof Error && /maximum messages per subject exceeded/i.test(err.message);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface Subjects {
  readonly stream: string;
  readonly dirStream: string;
  readonly statusStream: string;
  agent(id: AgentId): string;
  dir(id: AgentId): string;
  status(id: MessageId): string;
  durable(id: AgentId): string;
}

function subjects(ns: string): Subjects {
  const root = `symbiont.${ns}`;
  return {
    stream: `SYMBIONT_${ns}`,
    dirStream: `SYMBIONT_${ns}_DIR`,
    statusStream: `SYMBIONT_${ns}_STATUS`,
    agent: (id) => `${root}.agent.${id}`,
    dir: (id) => `${root}.dir.${id}`,
    status: (id) => `${root}.status.${id}`,
    durable: (id) => `agent_${id}`,
  };
}

/** The shared directory: a last-value stream mirrored into memory by an ordered consumer. */
class NatsDirectory implements Directory {
  readonly #entries = new Map<AgentId, DirectoryEntry>();
  #feed: ConsumerMessages | undefined;

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly s: Subjects,
    private readonly logger: Logger,
  ) {}

  /** Starts mirroring and resolves once the entries that existed at start are loaded. */
  async start(timeoutMs: number): Promise<void> {
    const info = await this.jsm.streams.info(this.s.dirStream);
    const last = info.state.last_seq;
    const consumer = await this.js.consumers.get(this.s.dirStream, { deliver_policy: DeliverPolicy.LastPerSubject });
    const feed = await consumer.consume();
    this.#feed = feed;
    let caughtUp: () => void = () => undefined;
    const ready = new Promise<void>((resolve) => (caughtUp = resolve));
    if (last === 0 || info.state.messages === 0) caughtUp();
    void (async () => {
      for await (const m of feed) {
        this.#apply(m);
        if (m.seq >= last) caughtUp();
      }
    })().catch((err: unknown) => this.logger.error({ err }, "directory feed stopped"));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`directory not loaded within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([ready, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  #apply(m: JsMsg): void {
    try {
      const value = m.json<DirectoryEntry & { deleted?: boolean }>();
      if (value.deleted) this.#entries.delete(value.agent_id);
      else this.#entries.set(value.agent_id, value);
    } catch (err) {
      this.logger.warn({ err, subject: m.subject }, "ignoring malformed directory entry");
    }
  }

  get(agentId: AgentId): DirectoryEntry | undefined {
    return this.#entries.get(agentId);
  }

  async fetch(agentId: AgentId): Promise<DirectoryEntry | undefined> {
    const cached = this.#entries.get(agentId);
    if (cached) return cached;
    try {
      const stored = await this.jsm.streams.getMessage(this.s.dirStream, { last_by_subj: this.s.dir(agentId) });
      if (!stored) return undefined;
      const value = stored.json<DirectoryEntry & { deleted?: boolean }>();
      return value.deleted ? undefined : value;
    } catch (err) {
      if (err instanceof Error && /no message found|not found/i.test(err.message)) return undefined;
      throw unavailable("directory lookup", err, { agent_id: agentId });
    }
  }

  async put(entry: DirectoryEntry): Promise<void> {
    this.#entries.set(entry.agent_id, entry);
    await this.#publish(entry.agent_id, entry);
  }

  async remove(agentId: AgentId): Promise<void> {
    this.#entries.delete(agentId);
    await this.#publish(agentId, { agent_id: agentId, deleted: true });
  }

  async #publish(agentId: AgentId, value: unknown): Promise<void> {
    try {
      await this.js.publish(this.s.dir(agentId), JSON.stringify(value));
    } catch (err) {
      throw unavailable("directory update", err, { agent_id: agentId });
    }
  }

  entries(): Iterable<DirectoryEntry> {
    return this.#entries.values();
  }

  async close(): Promise<void> {
    await this.#feed?.close();
  }
}

interface Attached {
  readonly messages: ConsumerMessages;
  /** envelopes handed to the bus and not yet acknowledged */
  readonly outstanding: Set<JsMsg>;
}

export class NatsTransport implements BusTransport {
  readonly kind = "nats" as const;
  readonly directory: NatsDirectory;
  readonly maxEnvelopeSize: number;
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #s: Subjects;
  readonly #config: CommunicationConfig;
  readonly #logger: Logger;
  readonly #attached = new Map<AgentId, Attached>();
  readonly #keepAlive: NodeJS.Timeout;
  #sink: TransportSink | undefined;
  #closed: Promise<void> | undefined;

  private constructor(nc: NatsConnection, js: JetStreamClient, jsm: JetStreamManager, config: CommunicationConfig, logger: Logger) {
    this.#nc = nc;
    this.#js = js;
    this.#jsm = jsm;
    this.#config = config;
    this.#logger = logger.child({ component: "bus.nats" });
    this.#s = subjects(config.namespace);
    this.maxEnvelopeSize = nc.info?.max_payload ?? 1024 * 1024;
    this.directory = new NatsDirectory(js, jsm, this.#s, this.#logger);
    // Held envelopes would be redelivered after ack_wait; "still working" keeps them ours while we live.
    this.#keepAlive = setInterval(() => {
      if (this.#nc.isClosed()) return;
      try {
        for (const a of this.#attached.values()) for (const m of a.outstanding) m.working();
      } catch (err) {
        this.#logger.warn({ err }, "could not extend acknowledgement deadlines");
      }
    }, Math.max(100, Math.floor(config.delivery_timeout / 3)));
    this.#keepAlive.unref();
    this.#watchStatus().catch((err: unknown) => this.#logger.debug({ err }, "status feed ended"));
  }

  /** Connects, checks JetStream and creates the namespace's streams. TRANSPORT_UNAVAILABLE when it cannot. */
  static async connect(config: CommunicationConfig, logger: Logger): Promise<NatsTransport> {
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: config.nats_url,
        timeout: config.connect_timeout,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        name: `symbiont-${config.namespace}`,
      });
    } catch (err) {
      throw unavailable(`connection to ${config.nats_url}`, err, { url: config.nats_url });
    }
    try {
      const jsm = await jetstreamManager(nc, { timeout: config.connect_timeout });
      const js = jetstream(nc, { timeout: config.delivery_timeout });
      const transport = new NatsTransport(nc, js, jsm, config, logger);
      await transport.#ensureStreams();
      await transport.directory.start(config.connect_timeout);
      return transport;
    } catch (err) {
      await nc.close().catch(() => undefined);
      if (err instanceof CommunicationError) throw err;
      throw unavailable(`JetStream setup at ${config.nats_url}`, err, { url: config.nats_url });
    }
  }

  async #ensureStreams(): Promise<void> {
    const s = this.#s;
    const c = this.#config;
    await this.#ensureStream({
      name: s.stream,
      subjects: [s.agent("*" as AgentId)],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      max_msgs_per_subject: c.max_queue_size,
      discard: DiscardPolicy.New,
      discard_new_per_subject: true,
      duplicate_window: nanos(DUPLICATE_WINDOW_MS),
    });
    await this.#ensureStream({
      name: s.dirStream,
      subjects: [s.dir("*" as AgentId)],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_msgs_per_subject: 1,
    });
    await this.#ensureStream({
      name: s.statusStream,
      subjects: [s.status("*" as MessageId)],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_msgs_per_subject: 1,
      max_age: nanos(c.message_ttl),
    });
  }

  /** Creates the stream, or uses it as it is when another instance of the namespace already did. */
  async #ensureStream(cfg: Partial<StreamConfig> & { name: string }): Promise<void> {
    try {
      await this.#jsm.streams.info(cfg.name);
      return;
    } catch (err) {
      if (!(err instanceof Error && /not found/i.test(err.message))) throw err;
    }
    try {
      await this.#jsm.streams.add(cfg);
    } catch (err) {
      // Lost a creation race with another instance: theirs is as good as ours.
      if (!(err instanceof Error && /already in use/i.test(err.message))) throw err;
    }
  }

  async #watchStatus(): Promise<void> {
    for await (const s of this.#nc.status()) {
      if (s.type === "disconnect") this.#logger.warn({ server: s.server }, "NATS connection lost; reconnecting");
      else if (s.type === "reconnect") this.#logger.info({ server: s.server }, "NATS connection restored");
    }
  }

  setSink(sink: TransportSink): void {
    this.#sink = sink;
  }

  async publish(to: AgentId, dedupId: MessageId, bytes: Uint8Array, _meta: PublishMeta): Promise<void> {
    let last: unknown;
    // Retrying is safe: the server drops a second copy with the same Nats-Msg-Id.
    for (let attempt = 0; attempt <= this.#config.retry_attempts; attempt++) {
      if (this.#nc.isClosed()) break;
      try {
        await this.#js.publish(this.#s.agent(to), bytes, { msgID: dedupId, timeout: this.#config.delivery_timeout });
        return;
      } catch (err) {
        if (isQueueFull(err)) {
          throw new CommunicationError("AGENT_QUEUE_FULL", `Agent ${to}'s queue is full`, { details: { agent_id: to } });
        }
        last = err;
        this.#logger.warn({ err, message_id: dedupId, attempt: attempt + 1 }, "publish not acknowledged");
      }
    }
    throw unavailable("publish", last ?? new Error("connection closed"), { message_id: dedupId, to });
  }

  async attachAll(agentIds: readonly AgentId[]): Promise<void> {
    // One consumer per agent on JetStream: there is no shared pass to make.
    for (const id of agentIds) await this.attach(id);
  }

  async attach(agentId: AgentId): Promise<void> {
    if (this.#attached.has(agentId)) return;
    try {
      await this.#addConsumer(agentId, this.#s.durable(agentId));
      const consumer = await this.#js.consumers.get(this.#s.stream, this.#s.durable(agentId));
      const messages = await consumer.consume({ max_messages: CONSUME_BATCH });
      const attached: Attached = { messages, outstanding: new Set() };
      this.#attached.set(agentId, attached);
      void this.#pull(agentId, attached);
    } catch (err) {
      throw unavailable("consumer setup", err, { agent_id: agentId });
    }
  }

  async #addConsumer(agentId: AgentId, name: string): Promise<void> {
    await this.#jsm.consumers.add(this.#s.stream, {
      durable_name: name,
      filter_subject: this.#s.agent(agentId),
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(this.#config.delivery_timeout),
      deliver_policy: DeliverPolicy.All,
      // The bus counts deliveries and dead-letters past retry_attempts; the server must not give up first.
      max_deliver: -1,
      max_ack_pending: Math.max(this.#config.max_queue_size, CONSUME_BATCH),
    });
  }

  async #pull(agentId: AgentId, a: Attached): Promise<void> {
    try {
      for await (const m of a.messages) {
        a.outstanding.add(m);
        this.#sink?.deliver(agentId, this.#delivery(m, a));
      }
    } catch (err) {
      this.#logger.error({ err, agent_id: agentId }, "consumer stopped");
    }
  }

  #delivery(m: JsMsg, a: Attached | undefined): TransportDelivery {
    return {
      bytes: m.data,
      attempt: m.info.deliveryCount,
      ack: async () => {
        a?.outstanding.delete(m);
        try {
          await m.ackAck();
        } catch (err) {
          // Connection gone: the server redelivers it later and the bus drops it as already handled.
          this.#logger.warn({ err, seq: m.seq }, "acknowledgement not confirmed");
        }
      },
    };
  }

  async detach(agentId: AgentId): Promise<TransportDelivery[]> {
    const a = this.#attached.get(agentId);
    this.#attached.delete(agentId);
    await a?.messages.close();
    // Envelopes already handed to the bus stay its business; everything else still stored is returned.
    const held = new Set([...(a?.outstanding ?? [])].map((m) => m.seq));
    const durable = this.#s.durable(agentId);
    const sweep = `${durable}_detach`;
    const left: TransportDelivery[] = [];
    try {
      await this.#jsm.consumers.delete(this.#s.stream, durable).catch(() => false);
      // A fresh consumer sees every envelope still stored, including ones the old one had in flight.
      await this.#addConsumer(agentId, sweep);
      const consumer = await this.#js.consumers.get(this.#s.stream, sweep);
      for (;;) {
        const info = await consumer.info();
        if (info.num_pending === 0) break;
        const batch = await consumer.fetch({ max_messages: info.num_pending, expires: 1_000 });
        for await (const m of batch) if (!held.has(m.seq)) left.push(this.#delivery(m, undefined));
      }
      await this.#jsm.consumers.delete(this.#s.stream, sweep);
      await this.#jsm.streams.purge(this.#s.stream, { filter: this.#s.agent(agentId) });
    } catch (err) {
      throw unavailable("consumer removal", err, { agent_id: agentId });
    }
    return left;
  }

  async settle(agentId: AgentId): Promise<void> {
    const a = this.#attached.get(agentId);
    if (!a) return;
    const deadline = Date.now() + Math.min(SETTLE_MAX_MS, this.#config.delivery_timeout);
    for (;;) {
      let info;
      try {
        info = await this.#jsm.consumers.info(this.#s.stream, this.#s.durable(agentId));
      } catch (err) {
        throw unavailable("consumer query", err, { agent_id: agentId });
      }
      if (info.num_pending === 0 && info.num_ack_pending <= a.outstanding.size) return;
      if (Date.now() >= deadline) return;
      await delay(SETTLE_POLL_MS);
    }
  }

  recordStatus(messageId: MessageId, status: DeliveryStatus): void {
    this.#js.publish(this.#s.status(messageId), status).catch((err: unknown) => {
      this.#logger.warn({ err, message_id: messageId }, "could not share a delivery status");
    });
  }

  async lookupStatus(messageId: MessageId): Promise<DeliveryStatus | undefined> {
    try {
      const stored = await this.#jsm.streams.getMessage(this.#s.statusStream, { last_by_subj: this.#s.status(messageId) });
      const text = stored?.string();
      return STATUSES.find((s) => s === text);
    } catch (err) {
      if (err instanceof Error && /no message found|not found/i.test(err.message)) return undefined;
      throw unavailable("status lookup", err, { message_id: messageId });
    }
  }

  async close(): Promise<void> {
    return (this.#closed ??= this.#shutdown());
  }

  async #shutdown(): Promise<void> {
    clearInterval(this.#keepAlive);
    for (const a of this.#attached.values()) await a.messages.close().catch(() => undefined);
    this.#attached.clear();
    await this.directory.close().catch(() => undefined);
    if (this.#nc.isClosed()) return;
    // Drain flushes acknowledgements still in flight, so nothing delivered comes back after a restart.
    await this.#nc.drain().catch(() => this.#nc.close());
  }
}
