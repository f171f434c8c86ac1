/**
 * What the bus needs from a transport: carry sealed envelopes to the agent they are addressed to, hold them
 * until the bus acknowledges them, and share the agent directory (public keys and topic subscriptions) with
 * every runtime instance on the same transport. Envelopes are opaque bytes here: transports never see
 * plaintext or keys.
 */
import type { AgentId, MessageId } from "../core/ids.js";
import type { DeliveryStatus, Priority } from "../core/types.js";

/** How the bus finished with an envelope. */
export type DeliveryOutcome = "Delivered" | "Failed" | "Expired";

/** What a transport that stores envelopes by field (the durable memory transport) needs beside the bytes. */
export interface PublishMeta {
  readonly from: AgentId;
  readonly topic: string;
  readonly priority: Priority;
  /** The effective time to live (ms, never 0): the envelope is worthless after it. */
  readonly ttl: number;
}

/** One envelope handed to the bus. */
export interface TransportDelivery {
  readonly bytes: Uint8Array;
  /** 1 on first delivery; higher when the transport redelivers an unacknowledged envelope. */
  readonly attempt: number;
  /**
   * The bus is done with it (`outcome`: delivered, dead-lettered or expired): the transport may forget it.
   * The promise (never rejected) settles once the transport has confirmed it, i.e. the envelope no longer
   * counts against the agent's queue bound (and, on a durable transport, will not come back at restart).
   */
  ack(outcome: DeliveryOutcome): Promise<void> | void;
}

export interface TransportSink {
  /** An envelope arrived for `agentId`, an agent attached on this instance. */
  deliver(agentId: AgentId, delivery: TransportDelivery): void;
}

/** A registered agent as every instance sees it. Keys base64; topics are subscription patterns. */
export interface DirectoryEntry {
  readonly agent_id: AgentId;
  readonly signing_public_key: string;
  readonly agreement_public_key: string;
  readonly topics: readonly string[];
}

export interface Directory {
  /** From this instance's view (immediate). */
  get(agentId: AgentId): DirectoryEntry | undefined;
  /** This instance's view first, then the shared source (an agent registered a moment ago elsewhere). */
  fetch(agentId: AgentId): Promise<DirectoryEntry | undefined>;
  put(entry: DirectoryEntry): Promise<void>;
  remove(agentId: AgentId): Promise<void>;
  entries(): Iterable<DirectoryEntry>;
}

export interface BusTransport {
  readonly kind: "memory" | "nats";
  readonly directory: Directory;
  /** Largest envelope the transport carries, in bytes. */
  readonly maxEnvelopeSize: number;
  /** Called once by the bus before anything else. */
  setSink(sink: TransportSink): void;
  /**
   * Stores the envelope for `to`; resolves once durably accepted (returns nothing when it was accepted at
   * once, as the in-process transport without a store does: no promise per message on its hot path). `dedupId` lets the transport drop a
   * retried publish of the same message. Throws AGENT_QUEUE_FULL or TRANSPORT_UNAVAILABLE.
   */
  publish(to: AgentId, dedupId: MessageId, bytes: Uint8Array, meta: PublishMeta): Promise<void> | void;
  /** Starts delivering `agentId`'s envelopes to the sink (on a durable transport: those stored before too). */
  attach(agentId: AgentId): Promise<void>;
  /** `attach` for many agents at once (start-up restore), reading what is stored for them in one pass. */
  attachAll(agentIds: readonly AgentId[]): Promise<void>;
  /** Stops delivering and returns (and removes) the envelopes still held for the agent. */
  detach(agentId: AgentId): Promise<TransportDelivery[]>;
  /** Resolves once everything stored for the agent so far has reached the sink (bounded wait). */
  settle(agentId: AgentId): Promise<void>;
  /** Shares a final status with other instances (the sender may live elsewhere). */
  recordStatus(messageId: MessageId, status: DeliveryStatus): void;
  /** A status recorded by another instance. */
  lookupStatus(messageId: MessageId): Promise<DeliveryStatus | undefined>;
  close(): Promise<void>;
}
