/**
 * The embedded transport: envelopes go from `publish` to the bus's sink in the same process, and the bus's
 * own per-agent queues hold them until delivery. The directory is this bus's alone.
 *
 * With a durable store (`DurableMessages`), each envelope is committed to the store's message table before
 * `publish` resolves (concurrent publishes share one group commit), and its final outcome is written when
 * the bus acknowledges it; `attach` hands the sink every envelope still stored for the agent, so what was
 * accepted before a crash or restart is delivered after it. Without one, nothing outlives the process.
 */
import type { Clock } from "../core/clock.js";
import type { AgentId, MessageId } from "../core/ids.js";
import type { Logger } from "../core/logger.js";
import type { DeliveryStatus } from "../core/types.js";
import type { MessageRepository } from "../store/types.js";
import type { BusTransport, DeliveryOutcome, Directory, DirectoryEntry, PublishMeta, TransportDelivery, TransportSink } from "./transport.js";
import { invalidMessage } from "./validate.js";

function noAck(): void {}

/** Stored envelopes handed to the sink per read at attach. */
const RESTORE_BATCH = 500;

export interface DurableMessages {
  readonly messages: MessageRepository;
  readonly clock: Clock;
  readonly logger: Logger;
}

class MemoryDirectory implements Directory {
  readonly #entries = new Map<AgentId, DirectoryEntry>();
  get(agentId: AgentId): DirectoryEntry | undefined {
    return this.#entries.get(agentId);
  }
  async fetch(agentId: AgentId): Promise<DirectoryEntry | undefined> {
    return this.#entries.get(agentId);
  }
  async put(entry: DirectoryEntry): Promise<void> {
    this.#entries.set(entry.agent_id, entry);
  }
  async remove(agentId: AgentId): Promise<void> {
    this.#entries.delete(agentId);
  }
  entries(): Iterable<DirectoryEntry> {
    return this.#entries.values();
  }
}

export class MemoryTransport implements BusTransport {
  readonly kind = "memory" as const;
  readonly directory = new MemoryDirectory();
  readonly maxEnvelopeSize = Number.MAX_SAFE_INTEGER;
  readonly #durable: DurableMessages | undefined;
  #sink: TransportSink | undefined;

  constructor(durable?: DurableMessages) {
    this.#durable = durable;
  }

  setSink(sink: TransportSink): void {
    this.#sink = sink;
  }

  publish(to: AgentId, dedupId: MessageId, bytes: Uint8Array, meta: PublishMeta): Promise<void> | void {
    const durable = this.#durable;
    if (durable) return this.#publishDurable(durable, to, dedupId, bytes, meta);
    // The bus checked the directory; an agent detached since then gets the envelope refused by the sink.
    this.#sink?.deliver(to, { bytes, attempt: 1, ack: noAck });
  }

  async #publishDurable(durable: DurableMessages, to: AgentId, dedupId: MessageId, bytes: Uint8Array, meta: PublishMeta): Promise<void> {
    const stored = { id: dedupId, from: meta.from, to, topic: meta.topic, priority: meta.priority, ttl: meta.ttl, payload: bytes };
    const { accepted } = await durable.messages.accept(stored, durable.clock.now());
    // Known to the store from before a restart (delivered or still pending): never stored or delivered twice.
    if (!accepted) throw invalidMessage("id", `message id ${dedupId} was already used`);
    this.#sink?.deliver(to, this.#stored(dedupId, bytes, 1));
  }

  /** Without a store nothing is held here; with one, every envelope stored for the agent goes to the sink. */
  async attach(agentId: AgentId): Promise<void> {
    const durable = this.#durable;
    if (!durable) return;
    for (;;) {
      const batch = await durable.messages.claim(RESTORE_BATCH, durable.clock.now(), agentId);
      for (const m of batch) this.#sink?.deliver(agentId, this.#stored(m.id, m.payload, m.attempts));
      if (batch.length < RESTORE_BATCH) return;
    }
  }

  /**
   * Claims every stored envelope in arrival order, a batch at a time, and hands each to its recipient when the
   * recipient is among `agentIds`; envelopes for any other agent go back to Pending for its own `attach`.
   */
  async attachAll(agentIds: readonly AgentId[]): Promise<void> {
    const durable = this.#durable;
    if (!durable) return;
    const attaching = new Set(agentIds);
    const others: MessageId[] = [];
    for (;;) {
      const batch = await durable.messages.claim(RESTORE_BATCH, durable.clock.now());
      for (const m of batch) {
        if (attaching.has(m.to)) this.#sink?.deliver(m.to, this.#stored(m.id, m.payload, m.attempts));
        else others.push(m.id);
      }
      if (batch.length < RESTORE_BATCH) break;
    }
    for (const id of others) await durable.messages.release(id);
  }

  #stored(id: MessageId, bytes: Uint8Array, attempt: number): TransportDelivery {
    const durable = this.#durable as DurableMessages;
    return {
      bytes,
      attempt,
      ack: async (outcome: DeliveryOutcome) => {
        const at = durable.clock.now();
        try {
          await (outcome === "Delivered" ? durable.messages.ack(id, at) : durable.messages.settle(id, outcome, at));
        } catch (err) {
          // The store refused the outcome (closed, unreachable): the message stays stored and comes back at the
          // next start, where the handler sees it again (at-least-once), never lost.
          durable.logger.error({ err, message_id: id, outcome }, "message outcome not stored");
        }
      },
    };
  }

  /** Nothing is held here: the bus's own queue has every undelivered envelope (and the store, if any). */
  async detach(_agentId: AgentId): Promise<TransportDelivery[]> {
    return [];
  }

  async settle(_agentId: AgentId): Promise<void> {}

  recordStatus(_messageId: MessageId, _status: DeliveryStatus): void {}

  async lookupStatus(_messageId: MessageId): Promise<DeliveryStatus | undefined> {
    return undefined;
  }

  async close(): Promise<void> {
    this.#sink = undefined;
  }
}
