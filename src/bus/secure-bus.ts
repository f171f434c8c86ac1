/**
 * SecureCommunicationBus: the one CommunicationBus implementation. It owns the key store, seals every
 * message for its recipient, keeps each local agent's priority queue, tracks delivery status, expires
 * messages, dead-letters what cannot be delivered and answers requests — over whichever `BusTransport` it
 * is given (it owns it and closes it on shutdown).
 */
import { authorize, enforce, type AuthorizationRequest, type Authorizer } from "../core/authorizer.js";
import type { Clock, TimerHandle } from "../core/clock.js";
import type { CommunicationConfig } from "../core/config/index.js";
import { CommunicationError, LifecycleError, ValidationError, isRuntimeError, type RuntimeError } from "../core/errors.js";
import type { EventStream } from "../core/events.js";
import { AgentId, MessageId } from "../core/ids.js";
import type { Logger } from "../core/logger.js";
import { type Capability, type DeliveryStatus, type Message, type Priority, type SecureMessage } from "../core/types.js";
import { AgentQueue } from "./agent-queue.js";
import { DeadLetterQueue } from "./dead-letters.js";
import { IdTable } from "./id-table.js";
import type { DurableBusState } from "./durable-state.js";
import { secureCodec, signatureMismatch, type EnvelopeCodec, type EnvelopeFrame } from "./envelope.js";
import { KeyStore, type AgentPublicKeys } from "./key-store.js";
import { topicMatches, validatePattern, validateTopic } from "./topics.js";
import { invalidMessage, validateMessage } from "./validate.js";
import type { BusTransport, DirectoryEntry, TransportDelivery } from "./transport.js";
import type { AgentPublicKeyInfo, BusRestoreReport, CommunicationBus, DeadLetter, MessageHandler } from "./types.js";
import { VerifyPool } from "./verify-pool.js";

/** Statuses remembered for `getMessageStatus`, oldest forgotten first. */
const STATUS_HISTORY = 100_000;
/**
 * Delivered ids remembered for replay detection. Ids leave when their message expires (a replay after that
 * is refused as expired) or, past this many, oldest first: memory stays bounded at any message rate.
 */
const SEEN_LIMIT = 1_000_000;
const STATUSES: readonly DeliveryStatus[] = ["Pending", "Delivered", "Failed", "Expired"];
/** Each status's index in STATUSES, looked up rather than searched for: statuses are set twice per message. */
const STATUS_CODE = Object.fromEntries(STATUSES.map((s, i) => [s, i])) as Readonly<Record<DeliveryStatus, number>>;
/** How often queues are swept for expired messages (at most; less when message_ttl is shorter). */
const SWEEP_INTERVAL_MS = 1_000;

export interface SecureBusDeps {
  readonly config: CommunicationConfig;
  readonly transport: BusTransport;
  readonly authorizer: Authorizer;
  readonly clock: Clock;
  readonly events: EventStream;
  readonly logger: Logger;
  /**
   * The runtime's durable store, when it has one: keys, dead letters and statuses survive a restart, which
   * `restore()` brings back (with the memory transport's stored envelopes).
   */
  readonly durable?: DurableBusState;
  /** Replaces the signed + encrypted codec. Benchmarks only, to measure the bus without its crypto. */
  readonly codec?: (keys: KeyStore) => EnvelopeCodec;
}

interface QueuedMessage {
  readonly secure: SecureMessage;
  readonly priority: Priority;
  readonly delivery: TransportDelivery;
  readonly expiresAt: number;
}

interface LocalAgent {
  readonly id: AgentId;
  readonly capabilities: readonly Capability[];
  readonly topics: Set<string>;
  readonly queue: AgentQueue<QueuedMessage>;
  /** ids in the queue or being handed to the handler: a transport redelivery of one of them is ignored */
  readonly holding: Set<MessageId>;
  /** Arrivals still being verified; they join the queue in arrival order through `arrivals`. */
  inflight: number;
  /** Sends to this agent being committed by the transport: they count against max_queue_size too. */
  accepting: number;
  arrivals: Promise<void>;
  handler: MessageHandler | undefined;
  pumping: boolean;
}

interface PendingRequest {
  readonly requester: AgentId;
  readonly resolve: (m: SecureMessage) => void;
  readonly reject: (e: unknown) => void;
  readonly timer: TimerHandle;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | undefined)?.then === "function";
}

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

export class SecureCommunicationBus implements CommunicationBus {
  readonly #config: CommunicationConfig;
  readonly #transport: BusTransport;
  readonly #authorizer: Authorizer;
  readonly #clock: Clock;
  readonly #events: EventStream;
  readonly #logger: Logger;
  readonly #keys = new KeyStore();
  readonly #codec: EnvelopeCodec;
  readonly #pool: VerifyPool | undefined;
  readonly #agents = new Map<AgentId, LocalAgent>();
  /** Statuses as indexes into STATUSES. */
  readonly #statuses = new IdTable(STATUS_HISTORY);
  /** Delivered ids → when they expire; anything older is refused as expired, so this stays bounded. */
  readonly #seen = new IdTable(SEEN_LIMIT);
  readonly #dlq: DeadLetterQueue;
  readonly #requests = new Map<MessageId, PendingRequest>();
  readonly #peerKeys = new WeakMap<DirectoryEntry, AgentPublicKeys>();
  readonly #durable: DurableBusState | undefined;
  /**
   * With a durable store, agents registered before `restore()` start receiving stored envelopes only once
   * every stored agent is back in the directory, so no restored envelope is refused for an unknown sender.
   */
  #restored: boolean;
  #sweepTimer: TimerHandle | undefined;
  #closed = false;
  /** This instance's agents' ids were parsed when they registered (the directory's may come off the wire). */
  readonly #knownAgent = (id: unknown): boolean => this.#agents.has(id as AgentId);
  #shutdown: Promise<void> | undefined;

  constructor(deps: SecureBusDeps) {
    this.#config = deps.config;
    this.#transport = deps.transport;
    this.#authorizer = deps.authorizer;
    this.#clock = deps.clock;
    this.#events = deps.events;
    this.#logger = deps.logger.child({ component: "bus", transport: deps.transport.kind });
    this.#dlq = new DeadLetterQueue(deps.config.dead_letter_queue_size);
    this.#durable = deps.durable;
    this.#restored = !deps.durable;
    this.#pool = !deps.codec && deps.config.verify_threads > 0 ? new VerifyPool(deps.config.verify_threads) : undefined;
    this.#codec =
      deps.codec?.(this.#keys) ??
      secureCodec(
        this.#keys,
        {
          encrypt: deps.config.enable_encryption,
          algorithm: deps.config.encryption_algorithm,
          compress: deps.config.enable_compression,
          compressionThreshold: deps.config.compression_threshold,
          maxMessageSize: deps.config.max_message_size,
        },
        this.#pool,
      );
    this.#transport.setSink({ deliver: (agentId, delivery) => this.#arrive(agentId, delivery) });
    this.#scheduleSweep();
  }

  // ---------------------------------------------------------------- registration

  async registerAgent(agentId: AgentId, capabilities: readonly Capability[]): Promise<void> {
    this.#assertOpen();
    const id = AgentId.parse(agentId);
    if (this.#agents.has(id)) return;
    // An identity brought back from the store is not a new registration: `bus.restored` reports those.
    if (await this.#install(id, capabilities, this.#restored)) this.#events.emit("bus.agent_registered", { agent_id: id });
  }

  /**
   * Keys (stored ones when there are), directory entry and, when `attach`, delivery from the transport.
   * Resolves true when the agent got new keys, false when its stored ones were taken.
   */
  async #install(id: AgentId, capabilities: readonly Capability[], attach: boolean): Promise<boolean> {
    const local: LocalAgent = {
      id,
      capabilities: [...capabilities],
      topics: new Set(),
      queue: new AgentQueue(),
      holding: new Set(),
      inflight: 0,
      accepting: 0,
      arrivals: Promise.resolve(),
      handler: undefined,
      pumping: false,
    };
    this.#agents.set(id, local);
    try {
      let created = true;
      if (this.#durable) created = await this.#durable.obtainKeys(this.#keys, id);
      else this.#keys.create(id);
      await this.#transport.directory.put(this.#entry(local));
      if (attach) await this.#transport.attach(id);
      return created;
    } catch (err) {
      this.#agents.delete(id);
      this.#keys.delete(id);
      await this.#transport.directory.remove(id).catch(() => undefined);
      throw err;
    }
  }

  async restore(): Promise<BusRestoreReport> {
    this.#assertOpen();
    const durable = this.#durable;
    if (!durable || this.#restored) return { agents: 0, dead_letters: 0 };
    const stored = await durable.deadLetters();
    for (const dead of stored) this.#dlq.add(dead);
    const ids = await durable.storedAgents();
    // Every stored agent is in the directory before any envelope is handed over: each sender's key is known.
    for (const id of ids) if (!this.#agents.has(id)) await this.#install(id, [], false);
    durable.restored();
    const deferred = [...this.#agents.keys()];
    this.#restored = true;
    await this.#transport.attachAll(deferred.filter((id) => this.#agents.has(id)));
    const report = { agents: ids.length, dead_letters: stored.length };
    this.#events.emit("bus.restored", report);
    return report;
  }

  async unregisterAgent(agentId: AgentId): Promise<void> {
    this.#assertOpen();
    const local = this.#local(agentId);
    local.handler = undefined;
    for (const [id, req] of this.#requests) {
      if (req.requester === local.id) this.#settleRequest(id, undefined, this.#notRegistered(local.id));
    }
    await this.#transport.directory.remove(local.id);
    const leftover = await this.#transport.detach(local.id);
    for (const d of leftover) this.#arrive(local.id, d);
    await local.arrivals;
    let dead = 0;
    for (const q of local.queue.drain()) {
      this.#deadLetter(q.secure.message, "AGENT_NOT_REGISTERED", `recipient ${local.id} was unregistered`, 0);
      q.delivery.ack("Failed");
      dead++;
    }
    this.#agents.delete(local.id);
    this.#keys.delete(local.id);
    await this.#durable?.forgetKeys(local.id);
    this.#events.emit("bus.agent_unregistered", { agent_id: local.id, dead_lettered: dead });
  }

  async getPublicKeys(agentId: AgentId): Promise<AgentPublicKeyInfo> {
    this.#assertOpen();
    const entry = await this.#transport.directory.fetch(AgentId.parse(agentId));
    if (!entry) throw this.#notRegistered(agentId);
    return {
      agent_id: entry.agent_id,
      signing_public_key: entry.signing_public_key,
      agreement_public_key: entry.agreement_public_key,
    };
  }

  // ---------------------------------------------------------------- topics

  async subscribeToTopic(agentId: AgentId, topic: string): Promise<void> {
    this.#assertOpen();
    const local = this.#local(agentId);
    const pattern = validatePattern(topic);
    await authorize(this.#authorizer, this.#events, { agent_id: local.id, action: "message.subscribe", resource: pattern });
    if (local.topics.has(pattern)) return;
    local.topics.add(pattern);
    await this.#publishEntry(local);
    this.#events.emit("bus.subscribed", { agent_id: local.id, topic: pattern });
  }

  async unsubscribeFromTopic(agentId: AgentId, topic: string): Promise<void> {
    this.#assertOpen();
    const local = this.#local(agentId);
    if (!local.topics.delete(topic)) {
      throw new CommunicationError("TOPIC_NOT_FOUND", `Agent ${local.id} is not subscribed to ${topic}`, {
        details: { agent_id: local.id, topic },
      });
    }
    await this.#publishEntry(local);
    this.#events.emit("bus.unsubscribed", { agent_id: local.id, topic });
  }

  async getAgentTopics(agentId: AgentId): Promise<string[]> {
    this.#assertOpen();
    return [...this.#local(agentId).topics].sort();
  }

  // ---------------------------------------------------------------- sending

  async sendMessage(message: Message): Promise<MessageId> {
    this.#assertOpen();
    const msg = this.#validate(message);
    const request = this.#sendRequest(msg, false);
    enforce(this.#events, request, await this.#authorizer.check(request));
    const published = this.#dispatch(msg);
    if (published) await published;
    return msg.id;
  }

  async broadcastMessage(topic: string, message: Message): Promise<MessageId[]> {
    this.#assertOpen();
    const concrete = validateTopic(topic);
    const template = this.#validate({ ...message, topic: concrete, to: message.from });
    const recipients = [...this.#transport.directory.entries()]
      .filter((e) => e.agent_id !== template.from && e.topics.some((p) => topicMatches(p, concrete)))
      .map((e) => e.agent_id);
    if (recipients.length === 0) {
      throw new CommunicationError("TOPIC_NOT_FOUND", `No agent is subscribed to a topic matching ${concrete}`, {
        details: { topic: concrete },
      });
    }
    const copies = recipients.map((to) => ({ ...template, id: MessageId.new(), to }));
    // Every copy is authorized before any is sent, so a denial never leaves a partial broadcast.
    for (const copy of copies) await authorize(this.#authorizer, this.#events, this.#sendRequest(copy, true));
    const ids: MessageId[] = [];
    const failures: { agent_id: AgentId; code: string; error: string }[] = [];
    for (const copy of copies) {
      try {
        await this.#dispatch(copy);
        ids.push(copy.id);
      } catch (err) {
        const e = this.#asError(err);
        failures.push({ agent_id: copy.to, code: e.code, error: e.message });
      }
    }
    if (failures.length) {
      throw new CommunicationError("DELIVERY_FAILED", `Broadcast on ${concrete} reached ${ids.length} of ${copies.length} subscribers`, {
        details: { topic: concrete, sent: ids, failures },
      });
    }
    return ids;
  }

  async request(message: Message, timeoutMs: number = this.#config.delivery_timeout): Promise<SecureMessage> {
    this.#assertOpen();
    const msg = this.#validate(message);
    if (this.#requests.has(msg.id)) throw invalidMessage("id", `request ${msg.id} is already pending`);
    const reply = new Promise<SecureMessage>((resolve, reject) => {
      const timer = this.#clock.setTimeout(() => {
        this.#settleRequest(
          msg.id,
          undefined,
          new CommunicationError("REQUEST_TIMEOUT", `No reply to message ${msg.id} within ${timeoutMs} ms`, {
            details: { message_id: msg.id, to: msg.to, timeout: timeoutMs },
          }),
        );
      }, timeoutMs);
      this.#requests.set(msg.id, { requester: msg.from, resolve, reject, timer });
    });
    // The timeout may fire while the send is still in flight; the caller gets the rejection from `reply`.
    reply.catch(() => undefined);
    try {
      await authorize(this.#authorizer, this.#events, this.#sendRequest(msg, false));
      await this.#dispatch(msg);
    } catch (err) {
      this.#settleRequest(msg.id, undefined, err);
    }
    return reply;
  }

  async reply(original: Message, payload: Uint8Array, options: { priority?: Priority; ttl?: number } = {}): Promise<MessageId> {
    return this.sendMessage({
      id: MessageId.new(),
      from: original.to,
      to: original.from,
      topic: original.topic,
      payload,
      priority: options.priority ?? original.priority,
      ttl: options.ttl ?? 0,
      correlation_id: original.id,
    });
  }

  #sendRequest(msg: Message, broadcast: boolean): AuthorizationRequest {
    return {
      agent_id: msg.from,
      action: "message.send",
      resource: msg.to,
      context: { topic: msg.topic, priority: msg.priority, size: msg.payload.byteLength, broadcast },
    };
  }

  /**
   * Seals and hands a validated, authorized message to the transport. Returns a promise only when there is
   * something to wait for (a directory fetch, a transport that commits asynchronously): an in-process send
   * completes without one.
   */
  #dispatch(msg: Message): Promise<void> | undefined {
    if (this.#statuses.has(msg.id)) throw invalidMessage("id", `message id ${msg.id} was already used`);
    const entry = this.#transport.directory.get(msg.to);
    return entry ? this.#publish(msg, entry) : this.#dispatchFetched(msg);
  }

  /** The recipient is not in this instance's view of the directory: ask the shared one. */
  async #dispatchFetched(msg: Message): Promise<void> {
    const entry = await this.#transport.directory.fetch(msg.to);
    if (!entry) {
      const err = this.#notRegistered(msg.to);
      this.#setStatus(msg.id, "Failed");
      this.#deadLetter(msg, err.code, err.message, 0);
      throw err;
    }
    await this.#publish(msg, entry);
  }

  #publish(msg: Message, entry: DirectoryEntry): Promise<void> | undefined {
    const local = this.#agents.get(msg.to);
    if (local && local.queue.size + local.inflight + local.accepting >= this.#config.max_queue_size) throw this.#queueFull(msg);
    const bytes = this.#codec.seal(msg, this.#clock.now(), this.#publicKeys(entry));
    if (bytes.byteLength > this.#transport.maxEnvelopeSize) {
      throw new CommunicationError("MESSAGE_TOO_LARGE", `Sealed message is ${bytes.byteLength} bytes; the ${this.#transport.kind} transport carries at most ${this.#transport.maxEnvelopeSize}`, {
        details: { size: bytes.byteLength, max_size: this.#transport.maxEnvelopeSize },
      });
    }
    this.#setStatus(msg.id, "Pending");
    if (local) local.accepting++;
    let published: Promise<void> | void;
    try {
      published = this.#transport.publish(msg.to, msg.id, bytes, { from: msg.from, topic: msg.topic, priority: msg.priority, ttl: this.#effectiveTtl(msg.ttl) });
    } catch (err) {
      if (local) local.accepting--;
      throw this.#publishFailed(msg, err);
    }
    if (!published) {
      if (local) local.accepting--;
      this.#sent(msg);
      return undefined;
    }
    return this.#committed(msg, local, published);
  }

  async #committed(msg: Message, local: LocalAgent | undefined, published: Promise<void>): Promise<void> {
    try {
      await published;
    } catch (err) {
      throw this.#publishFailed(msg, err);
    } finally {
      if (local) local.accepting--;
    }
    this.#sent(msg);
  }

  /** The transport refused the envelope: the id is free again; returns what the sender gets thrown. */
  #publishFailed(msg: Message, err: unknown): unknown {
    this.#statuses.delete(msg.id);
    const e = this.#asError(err);
    if (e.code === "AGENT_QUEUE_FULL") return this.#queueFull(msg);
    this.#events.emit("message.failed", { agent_id: msg.from, message_id: msg.id, from: msg.from, to: msg.to, code: e.code, reason: e.message });
    return err;
  }

  #sent(msg: Message): void {
    // Built only when heard: this runs once per message.
    if (!this.#events.listening("message.sent")) return;
    this.#events.emit("message.sent", {
      agent_id: msg.from,
      message_id: msg.id,
      to: msg.to,
      topic: msg.topic,
      priority: msg.priority,
      size: msg.payload.byteLength,
    });
  }

  // ---------------------------------------------------------------- receiving

  async receiveMessages(agentId: AgentId): Promise<SecureMessage[]> {
    this.#assertOpen();
    const local = this.#local(agentId);
    await this.#transport.settle(local.id);
    await local.arrivals;
    const out: SecureMessage[] = [];
    const acks: Promise<void>[] = [];
    const now = this.#clock.now();
    for (let q = local.queue.shift(); q; q = local.queue.shift()) {
      local.holding.delete(q.secure.message.id);
      if (q.expiresAt <= now) this.#expire(local, q);
      else {
        const acked = this.#delivered(local, q);
        if (acked) acks.push(acked);
        out.push(q.secure);
      }
    }
    // Once this returns, the transport has freed the slots: a sender sees the room at once.
    if (acks.length) await Promise.all(acks);
    return out;
  }

  onMessage(agentId: AgentId, handler: MessageHandler): () => void {
    this.#assertOpen();
    const local = this.#local(agentId);
    if (local.handler) {
      throw new ValidationError("onMessage", [{ path: "agent_id", message: `agent ${local.id} already has a message handler` }]);
    }
    local.handler = handler;
    this.#pump(local);
    return () => {
      if (local.handler === handler) local.handler = undefined;
    };
  }

  /**
   * An envelope arrived from the transport for a local agent. Verification may finish later (worker
   * threads, a directory lookup); envelopes still join the agent's queue in the order they arrived.
   */
  #arrive(agentId: AgentId, delivery: TransportDelivery): void {
    let frame: EnvelopeFrame;
    try {
      frame = this.#codec.read(delivery.bytes);
    } catch (err) {
      this.#reject(undefined, agentId, delivery, err);
      return;
    }
    const local = this.#agents.get(agentId);
    const sender = this.#transport.directory.get(frame.header.from);
    const verdict = sender ? this.#codec.verify(frame, this.#publicKeys(sender)) : undefined;
    if (sender && typeof verdict === "boolean" && (!local || local.inflight === 0)) {
      this.#accept(local, agentId, delivery, frame, sender, verdict);
      return;
    }
    // Registered a moment ago on another instance: ask the shared directory before refusing.
    const checked = (async (): Promise<[DirectoryEntry | undefined, boolean]> => {
      const entry = sender ?? (await this.#transport.directory.fetch(frame.header.from));
      if (!entry) return [undefined, false];
      return [entry, await (verdict ?? this.#codec.verify(frame, this.#publicKeys(entry)))];
    })();
    const settle = (): Promise<void> =>
      checked.then(
        ([entry, ok]) => this.#accept(this.#agents.get(agentId), agentId, delivery, frame, entry, ok),
        (err: unknown) => this.#reject(frame, agentId, delivery, err),
      );
    if (!local) {
      void settle();
      return;
    }
    local.inflight++;
    local.arrivals = local.arrivals
      .then(settle)
      .catch((err: unknown) => this.#logger.error({ err, agent_id: agentId }, "arrival not processed"))
      .finally(() => {
        local.inflight--;
      });
  }

  /** `local`: the recipient as registered now (undefined once unregistered). */
  #accept(local: LocalAgent | undefined, agentId: AgentId, delivery: TransportDelivery, frame: EnvelopeFrame, sender: DirectoryEntry | undefined, verified: boolean): void {
    const h = frame.header;
    if (!local) return this.#reject(frame, agentId, delivery, this.#notRegistered(agentId));
    if (!sender) {
      return this.#reject(frame, agentId, delivery, new CommunicationError("INVALID_SIGNATURE", `Message ${h.id} rejected: its sender ${h.from} is not registered, so its signature cannot be checked`, { details: { message_id: h.id, from: h.from } }));
    }
    if (!verified) return this.#reject(frame, agentId, delivery, signatureMismatch(h));
    let secure: SecureMessage;
    try {
      secure = this.#codec.decrypt(frame, this.#publicKeys(sender));
    } catch (err) {
      return this.#reject(frame, agentId, delivery, err);
    }
    if (h.to !== agentId) {
      return this.#reject(frame, agentId, delivery, new CommunicationError("DELIVERY_FAILED", `Message ${h.id} is addressed to ${h.to}, not ${agentId}`, { details: { message_id: h.id, to: h.to } }));
    }
    if (this.#seen.has(h.id) || local.holding.has(h.id)) {
      // A transport redelivery of something already handled is a duplicate, not an attack.
      if (delivery.attempt > 1) return void delivery.ack("Delivered");
      return this.#reject(frame, agentId, delivery, new CommunicationError("REPLAY_DETECTED", `Message ${h.id} was already received`, { details: { message_id: h.id, from: h.from } }));
    }
    const q: QueuedMessage = { secure, priority: h.priority, delivery, expiresAt: h.ts + this.#effectiveTtl(h.ttl) };
    if (q.expiresAt <= this.#clock.now()) return this.#expire(local, q);
    if (delivery.attempt > this.#config.retry_attempts + 1) {
      // Redelivered by the transport more often than retry_attempts allows: stop the cycle.
      this.#deadLetter(secure.message, "DELIVERY_FAILED", `transport delivered it ${delivery.attempt} times without acknowledgement`, delivery.attempt);
      return void delivery.ack("Failed");
    }
    const request = h.cid ? this.#requests.get(h.cid) : undefined;
    if (h.cid && request?.requester === agentId) {
      this.#delivered(local, q);
      this.#settleRequest(h.cid, secure);
      return;
    }
    local.holding.add(h.id);
    local.queue.push(q);
    if (local.handler) this.#pump(local);
  }

  /** Hands queued messages to the agent's handler, one at a time, until the queue is empty or it detaches. */
  #pump(local: LocalAgent): void {
    if (local.pumping || !local.handler || local.queue.size + local.inflight === 0) return;
    local.pumping = true;
    // Arrivals still being verified join the queue first, so the handler sees them in priority order too.
    setImmediate(() => {
      void local.arrivals
        .then(() => this.#drainToHandler(local))
        .catch((err: unknown) => this.#logger.error({ err, agent_id: local.id }, "message handler pump failed"))
        .finally(() => {
          local.pumping = false;
          if (local.handler && local.queue.size && this.#agents.get(local.id) === local) this.#pump(local);
        });
    });
  }

  async #drainToHandler(local: LocalAgent): Promise<void> {
    for (let q = local.handler ? local.queue.shift() : undefined; q; q = local.handler ? local.queue.shift() : undefined) {
      const id = q.secure.message.id;
      if (q.expiresAt <= this.#clock.now()) {
        local.holding.delete(id);
        this.#expire(local, q);
        continue;
      }
      let attempt = 0;
      for (;;) {
        attempt++;
        const handler = local.handler;
        const outcome = handler ? this.#runHandler(handler, q.secure) : new Error("handler detached");
        const error = outcome instanceof Promise ? await outcome : outcome;
        if (!error) {
          local.holding.delete(id);
          this.#delivered(local, q);
          break;
        }
        const reason = error instanceof Error ? error.message : String(error);
        if (!handler || this.#closed) {
          // Not the message's fault: put it back for the next handler or receive, unless the agent is gone.
          if (this.#closed || this.#agents.get(local.id) === local) local.queue.push(q);
          else {
            local.holding.delete(id);
            this.#deadLetter(q.secure.message, "AGENT_NOT_REGISTERED", `recipient ${local.id} was unregistered during delivery`, attempt);
            q.delivery.ack("Failed");
          }
          return;
        }
        if (attempt > this.#config.retry_attempts) {
          local.holding.delete(id);
          this.#deadLetter(q.secure.message, "DELIVERY_FAILED", `handler failed ${attempt} times: ${reason}`, attempt);
          q.delivery.ack("Failed");
          break;
        }
        this.#events.emit("message.retried", { agent_id: local.id, message_id: id, attempt, reason });
      }
    }
  }

  /**
   * Runs the handler; returns the failure, if any. A handler that returns at once costs no timer and no
   * promise; one that returns a promise is raced against delivery_timeout.
   */
  #runHandler(handler: MessageHandler, message: SecureMessage): unknown {
    let result: unknown;
    try {
      result = handler(message);
    } catch (err) {
      return err ?? new Error("handler failed");
    }
    if (!isThenable(result)) return undefined;
    return this.#awaitHandler(result);
  }

  async #awaitHandler(result: PromiseLike<unknown>): Promise<unknown> {
    let timer: TimerHandle | undefined;
    const timeout = new Promise<Error>((resolve) => {
      timer = this.#clock.setTimeout(() => resolve(new Error(`handler exceeded delivery_timeout (${this.#config.delivery_timeout} ms)`)), this.#config.delivery_timeout);
    });
    try {
      const run = Promise.resolve(result).then(
        () => undefined,
        (err: unknown) => err ?? new Error("handler failed"),
      );
      return await Promise.race([run, timeout]);
    } finally {
      this.#clock.clearTimeout(timer);
    }
  }

  // ---------------------------------------------------------------- outcomes

  /** Returns the transport's acknowledgement, for callers that wait until the queue slot is free. */
  #delivered(local: LocalAgent, q: QueuedMessage): Promise<void> | void {
    const m = q.secure.message;
    this.#seen.set(m.id, q.expiresAt);
    this.#setStatus(m.id, "Delivered", m.from);
    const acked = q.delivery.ack("Delivered");
    if (this.#events.listening("message.delivered")) this.#events.emit("message.delivered", { agent_id: local.id, message_id: m.id, from: m.from, topic: m.topic });
    return acked;
  }

  #expire(local: LocalAgent, q: QueuedMessage): void {
    const m = q.secure.message;
    this.#setStatus(m.id, "Expired", m.from);
    q.delivery.ack("Expired");
    this.#events.emit("message.expired", { agent_id: local.id, message_id: m.id, from: m.from });
  }

  /** An envelope that failed verification, decryption or a check: dead-lettered as evidence, never delivered. */
  #reject(frame: EnvelopeFrame | undefined, agentId: AgentId, delivery: TransportDelivery, err: unknown): void {
    const e = this.#asError(err);
    const h = frame?.header;
    const dead: DeadLetter = {
      id: h && !this.#dlq.get(h.id) ? h.id : MessageId.new(),
      ...(h ? { message_id: h.id, from: h.from, topic: h.topic, priority: h.priority } : {}),
      to: agentId,
      code: e.code,
      reason: e.message,
      dead_at: this.#clock.now(),
      attempts: delivery.attempt,
    };
    // A copy of an already-delivered message must not turn its status to Failed.
    if (h && this.#status(h.id) !== "Delivered") this.#setStatus(h.id, "Failed", h.from);
    this.#addDeadLetter(dead, agentId);
    delivery.ack("Failed");
    this.#logger.warn({ code: e.code, message_id: h?.id, to: agentId }, "message rejected");
  }

  #deadLetter(message: Message, code: RuntimeError["code"], reason: string, attempts: number): void {
    this.#setStatus(message.id, "Failed", message.from);
    this.#addDeadLetter(
      {
        id: this.#dlq.get(message.id) ? MessageId.new() : message.id,
        message_id: message.id,
        from: message.from,
        to: message.to,
        topic: message.topic,
        priority: message.priority,
        code,
        reason,
        dead_at: this.#clock.now(),
        attempts,
        message,
      },
      message.to,
    );
  }

  #addDeadLetter(dead: DeadLetter, agentId: AgentId | undefined): void {
    const evicted = this.#dlq.add(dead);
    // Issued before the envelope's acknowledgement, so it commits no later than the message's Failed status.
    this.#durable
      ?.addDeadLetter(dead, this.#config.dead_letter_queue_size)
      .catch((err: unknown) => this.#logger.error({ err, dead_letter_id: dead.id }, "dead letter not stored"));
    if (evicted) {
      this.#logger.warn({ dead_letter_id: evicted.id }, "dead-letter queue full: oldest entry dropped");
      this.#events.emit("message.dead_letter_evicted", {
        dead_letter_id: evicted.id,
        ...(evicted.message_id ? { message_id: evicted.message_id } : {}),
      });
    }
    this.#events.emit("message.failed", {
      ...(agentId ? { agent_id: agentId } : {}),
      ...(dead.message_id ? { message_id: dead.message_id } : {}),
      ...(dead.from ? { from: dead.from } : {}),
      ...(dead.to ? { to: dead.to } : {}),
      code: dead.code,
      reason: dead.reason,
      dead_letter_id: dead.id,
    });
  }

  async listDeadLetters(): Promise<DeadLetter[]> {
    this.#assertOpen();
    return this.#dlq.list();
  }

  async replayDeadLetter(id: string): Promise<MessageId> {
    this.#assertOpen();
    const dead = this.#dlq.get(id);
    if (!dead) throw new CommunicationError("MESSAGE_NOT_FOUND", `No dead letter ${id}`, { details: { id } });
    if (!dead.message) {
      throw new CommunicationError("DELIVERY_FAILED", `Dead letter ${id} cannot be replayed: it was never authenticated (${dead.code})`, {
        details: { id, code: dead.code },
      });
    }
    const newId = await this.sendMessage({ ...dead.message, id: MessageId.new() });
    this.#dlq.delete(id);
    await this.#durable?.removeDeadLetter(id);
    return newId;
  }

  async discardDeadLetter(id: string): Promise<void> {
    this.#assertOpen();
    if (!this.#dlq.delete(id)) throw new CommunicationError("MESSAGE_NOT_FOUND", `No dead letter ${id}`, { details: { id } });
  }

  async getMessageStatus(messageId: MessageId): Promise<DeliveryStatus> {
    this.#assertOpen();
    const id = MessageId.parse(messageId);
    const local = this.#status(id);
    if (local !== undefined && local !== "Pending") return local;
    const remote = (await this.#transport.lookupStatus(id)) ?? (await this.#durable?.status(id));
    const status = remote ?? local;
    if (status === undefined) throw new CommunicationError("MESSAGE_NOT_FOUND", `No message ${id} is known to the bus`, { details: { message_id: id } });
    return status;
  }

  async shutdown(): Promise<void> {
    return (this.#shutdown ??= this.#close());
  }

  async #close(): Promise<void> {
    this.#closed = true;
    this.#clock.clearTimeout(this.#sweepTimer);
    for (const id of [...this.#requests.keys()]) {
      this.#settleRequest(id, undefined, new LifecycleError("RUNTIME_SHUT_DOWN", "The communication bus was shut down"));
    }
    for (const local of this.#agents.values()) local.handler = undefined;
    // Envelopes still being verified finish first: a closing worker pool must not fail them as forged (on a
    // durable store they stay stored, undelivered, for the next start).
    await Promise.all([...this.#agents.values()].map((local) => local.arrivals));
    await this.#transport.close();
    await this.#pool?.close();
  }

  // ---------------------------------------------------------------- helpers

  #status(id: MessageId): DeliveryStatus | undefined {
    const code = this.#statuses.get(id);
    return code === undefined ? undefined : STATUSES[code];
  }

  #setStatus(id: MessageId, status: DeliveryStatus, from?: AgentId): void {
    this.#statuses.set(id, STATUS_CODE[status]);
    // The sender may live on another instance; it learns the outcome through the transport.
    if (status !== "Pending" && from && !this.#keys.has(from)) this.#transport.recordStatus(id, status);
  }

  #settleRequest(id: MessageId, reply: SecureMessage | undefined, err?: unknown): void {
    const req = this.#requests.get(id);
    if (!req) return;
    this.#requests.delete(id);
    this.#clock.clearTimeout(req.timer);
    if (reply) req.resolve(reply);
    else req.reject(err);
  }

  #scheduleSweep(): void {
    const every = Math.min(SWEEP_INTERVAL_MS, this.#config.message_ttl);
    this.#sweepTimer = this.#clock.setTimeout(() => {
      if (this.#closed) return;
      this.#sweep();
      this.#scheduleSweep();
    }, every);
  }

  /** Expires overdue queued messages and forgets replay ids that can no longer arrive unexpired. */
  #sweep(): void {
    const now = this.#clock.now();
    for (const local of this.#agents.values()) {
      for (const q of local.queue.removeWhere((x) => x.expiresAt <= now)) {
        local.holding.delete(q.secure.message.id);
        this.#expire(local, q);
      }
    }
    this.#seen.deleteWhere((expiresAt) => expiresAt <= now);
  }

  #effectiveTtl(ttl: number): number {
    return ttl > 0 ? Math.min(ttl, this.#config.message_ttl) : this.#config.message_ttl;
  }

  #publicKeys(entry: DirectoryEntry): AgentPublicKeys {
    let keys = this.#peerKeys.get(entry);
    if (!keys) {
      keys = {
        signing_public_key: new Uint8Array(Buffer.from(entry.signing_public_key, "base64")),
        agreement_public_key: new Uint8Array(Buffer.from(entry.agreement_public_key, "base64")),
      };
      this.#peerKeys.set(entry, keys);
    }
    return keys;
  }

  /**
   * The agent's directory entry. Its public keys are read when first asked for: keys adopted from storage are
   * imported only then, so a restart does not import every agent's keys before it is ready.
   */
  #entry(local: LocalAgent): DirectoryEntry {
    const keys = this.#keys;
    const id = local.id;
    let encoded: { signing: string; agreement: string } | undefined;
    const publicKeys = (): { signing: string; agreement: string } => {
      if (encoded) return encoded;
      const raw = keys.publicKeys(id);
      if (!raw) throw this.#notRegistered(id);
      encoded = { signing: b64(raw.signing_public_key), agreement: b64(raw.agreement_public_key) };
      return encoded;
    };
    return {
      agent_id: id,
      get signing_public_key() {
        return publicKeys().signing;
      },
      get agreement_public_key() {
        return publicKeys().agreement;
      },
      topics: [...local.topics].sort(),
    };
  }

  async #publishEntry(local: LocalAgent): Promise<void> {
    if (this.#keys.has(local.id)) await this.#transport.directory.put(this.#entry(local));
  }

  #validate(message: Message): Message {
    const msg = validateMessage(message, this.#config.max_message_size, this.#knownAgent);
    if (!this.#agents.has(msg.from)) throw this.#notRegistered(msg.from);
    return msg;
  }

  #local(agentId: AgentId): LocalAgent {
    const local = this.#agents.get(agentId);
    if (!local) throw this.#notRegistered(agentId);
    return local;
  }

  #notRegistered(agentId: AgentId): CommunicationError {
    return new CommunicationError("AGENT_NOT_REGISTERED", `Agent ${agentId} is not registered with the communication bus`, {
      details: { agent_id: agentId },
    });
  }

  #queueFull(msg: Message): CommunicationError {
    const err = new CommunicationError("AGENT_QUEUE_FULL", `Agent ${msg.to}'s queue is full (max_queue_size ${this.#config.max_queue_size})`, {
      details: { agent_id: msg.to, message_id: msg.id, max_queue_size: this.#config.max_queue_size },
    });
    this.#events.emit("message.failed", { agent_id: msg.from, message_id: msg.id, from: msg.from, to: msg.to, code: err.code, reason: err.message });
    return err;
  }

  #asError(err: unknown): RuntimeError {
    if (isRuntimeError(err)) return err;
    return new CommunicationError("DELIVERY_FAILED", err instanceof Error ? err.message : String(err), { cause: err });
  }

  #assertOpen(): void {
    if (this.#closed) throw new LifecycleError("RUNTIME_SHUT_DOWN", "The communication bus was shut down");
  }
}
