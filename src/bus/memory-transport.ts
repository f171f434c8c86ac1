/**
 * The embedded transport: envelopes go straight from `publish` to the bus's sink in the same process, so
 * the bus's own per-agent queues are the only storage. The directory is this bus's alone.
 */
import type { AgentId, MessageId } from "../core/ids.js";
import type { DeliveryStatus } from "../core/types.js";
import type { BusTransport, Directory, DirectoryEntry, TransportDelivery, TransportSink } from "./transport.js";

function noAck(): void {}

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
  #sink: TransportSink | undefined;

  setSink(sink: TransportSink): void {
    this.#sink = sink;
  }

  async publish(to: AgentId, _dedupId: MessageId, bytes: Uint8Array): Promise<void> {
    // The bus checked the directory; an agent detached since then gets the envelope refused by the sink.
    const delivery: TransportDelivery = { bytes, attempt: 1, ack: noAck };
    this.#sink?.deliver(to, delivery);
  }

  /** Nothing to set up: every envelope reaches the sink the moment it is published. */
  async attach(_agentId: AgentId): Promise<void> {}

  /** Nothing is held here: the bus's own queue has every undelivered envelope. */
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
