/**
 * The CommunicationBus contract: the spec's ten methods, request/response, the dead-letter queue and the
 * delivery hook the agent executor uses. One implementation (`SecureCommunicationBus`) runs over either
 * transport (`memory` or `nats`); the bus owns its transport and closes it on `shutdown()`.
 *
 * Every message travels as a signed (Ed25519) and, unless `enable_encryption` is false, encrypted
 * envelope sealed for its one recipient (see `envelope.ts`). Private keys live in the bus's key store and
 * are never returned, logged or serialised.
 */
import type { ErrorCode } from "../core/error-codes.js";
import type { AgentId, MessageId } from "../core/ids.js";
import type { Capability, DeliveryStatus, Message, Priority, SecureMessage } from "../core/types.js";

/**
 * Receives the messages of one agent, most urgent first, one at a time. Resolving marks the message
 * Delivered (and acknowledges it to the transport); throwing or running past `delivery_timeout` counts as
 * a failed attempt, retried `retry_attempts` times before the message goes to the dead-letter queue.
 */
export type MessageHandler = (message: SecureMessage) => Promise<void> | void;

/** A message the bus accepted but could not deliver. */
export interface DeadLetter {
  /** The message id, or a fresh id when the envelope was too damaged to name its message. */
  readonly id: string;
  readonly message_id?: MessageId;
  readonly from?: AgentId;
  readonly to?: AgentId;
  readonly topic?: string;
  readonly priority?: Priority;
  /** Why it died: AGENT_NOT_REGISTERED, INVALID_SIGNATURE, DECRYPTION_FAILED, REPLAY_DETECTED, DELIVERY_FAILED. */
  readonly code: ErrorCode;
  readonly reason: string;
  /** epoch ms */
  readonly dead_at: number;
  /** Delivery attempts made before giving up (0 when it was refused before any). */
  readonly attempts: number;
  /**
   * The verified plaintext message, present only when the bus could authenticate it (so it can be
   * replayed); a tampered or undecryptable envelope is kept as evidence without it.
   */
  readonly message?: Message;
}

/** What `restore()` brought back from the durable store. */
export interface BusRestoreReport {
  /** Agents whose keys were stored, registered again (with no topics; re-subscribe as needed). */
  readonly agents: number;
  readonly dead_letters: number;
}

/** Public halves of an agent's keys, base64. Safe to share (other runtimes need them to talk to the agent). */
export interface AgentPublicKeyInfo {
  readonly agent_id: AgentId;
  readonly signing_public_key: string;
  readonly agreement_public_key: string;
}

export interface CommunicationBus {
  /** Creates the agent's Ed25519 + X25519 keys and starts accepting messages for it. Idempotent. */
  registerAgent(agentId: AgentId, capabilities: readonly Capability[]): Promise<void>;
  /** Removes its subscriptions and keys; messages still queued for it go to the dead-letter queue. */
  unregisterAgent(agentId: AgentId): Promise<void>;
  /**
   * Signs, encrypts and queues `message` for `message.to`. Resolves once the transport has accepted it
   * (for NATS: stored by JetStream). Errors: AGENT_NOT_REGISTERED (sender or recipient; an unknown recipient
   * also dead-letters the message), MESSAGE_TOO_LARGE, AGENT_QUEUE_FULL, POLICY_DENIED, TRANSPORT_UNAVAILABLE.
   */
  sendMessage(message: Message): Promise<MessageId>;
  /** Everything queued for the agent, verified and decrypted, most urgent first. Marks each Delivered. */
  receiveMessages(agentId: AgentId): Promise<SecureMessage[]>;
  /** `topic` may be a NATS-style pattern: `a.*` (one token), `a.>` (one or more). */
  subscribeToTopic(agentId: AgentId, topic: string): Promise<void>;
  unsubscribeFromTopic(agentId: AgentId, topic: string): Promise<void>;
  /**
   * Sends one copy of `message` (from `message.from`, `to` ignored) to every agent subscribed to a pattern
   * matching `topic`, except the sender, each sealed for its recipient. Returns their ids.
   * TOPIC_NOT_FOUND when nobody is subscribed.
   */
  broadcastMessage(topic: string, message: Message): Promise<MessageId[]>;
  getMessageStatus(messageId: MessageId): Promise<DeliveryStatus>;
  getAgentTopics(agentId: AgentId): Promise<string[]>;
  /** Rejects pending requests, closes the transport. Idempotent. */
  shutdown(): Promise<void>;

  /**
   * Sends `message` and resolves with the first reply to it (a message to `message.from` whose
   * `correlation_id` is `message.id`). REQUEST_TIMEOUT after `timeoutMs` (default delivery_timeout).
   * The reply is handed to the request, not queued.
   */
  request(message: Message, timeoutMs?: number): Promise<SecureMessage>;
  /** Answers `original`: a message from its recipient back to its sender, correlated to its id. */
  reply(original: Message, payload: Uint8Array, options?: { priority?: Priority; ttl?: number }): Promise<MessageId>;

  /**
   * The delivery hook for the agent executor: from now on, messages for `agentId` are pushed to `handler`
   * (see `MessageHandler`) instead of waiting for `receiveMessages`. One handler per agent; returns a
   * function that detaches it. Messages already queued are pushed at once.
   */
  onMessage(agentId: AgentId, handler: MessageHandler): () => void;

  /** Dead letters, oldest first. */
  listDeadLetters(): Promise<DeadLetter[]>;
  /**
   * Sends a dead letter's message again (as a new message, with a new id, which is returned) and removes
   * it from the queue. Only letters the bus could authenticate carry a message to replay.
   */
  replayDeadLetter(id: string): Promise<MessageId>;
  /** Removes a dead letter without replaying it (an operator has dealt with it). MESSAGE_NOT_FOUND when unknown. */
  discardDeadLetter(id: string): Promise<void>;
  /** Public keys of a registered agent (on this or another runtime of the same namespace). */
  getPublicKeys(agentId: AgentId): Promise<AgentPublicKeyInfo>;

  /**
   * Start-up, on a durable store: loads the dead-letter queue, registers every agent that was registered
   * when the runtime stopped (with its stored keys), then delivers the envelopes stored for them (memory
   * transport). Agents registered before this call keep their stored keys and receive stored envelopes
   * from this call on. A no-op without a durable store or when already restored.
   */
  restore(): Promise<BusRestoreReport>;
}

declare module "../core/events.js" {
  interface RuntimeEventMap {
    /** `agent_id` is the sender. */
    "message.sent": { agent_id: AgentId; message_id: MessageId; to: AgentId; topic: string; priority: Priority; size: number };
    /** `agent_id` is the recipient. */
    "message.delivered": { agent_id: AgentId; message_id: MessageId; from: AgentId; topic: string };
    /** A message refused, rejected or given up on; `dead_letter_id` when it went to the dead-letter queue. */
    "message.failed": {
      agent_id?: AgentId;
      message_id?: MessageId;
      from?: AgentId;
      to?: AgentId;
      code: ErrorCode;
      reason: string;
      dead_letter_id?: string;
    };
    "message.expired": { agent_id: AgentId; message_id: MessageId; from: AgentId };
    /** A delivery attempt to an onMessage handler failed and will be retried. */
    "message.retried": { agent_id: AgentId; message_id: MessageId; attempt: number; reason: string };
    /** The dead-letter queue was full: its oldest entry was dropped to make room. */
    "message.dead_letter_evicted": { dead_letter_id: string; message_id?: MessageId };
    "bus.agent_registered": { agent_id: AgentId };
    "bus.restored": { agents: number; dead_letters: number };
    "bus.agent_unregistered": { agent_id: AgentId; dead_lettered: number };
    "bus.subscribed": { agent_id: AgentId; topic: string };
    "bus.unsubscribed": { agent_id: AgentId; topic: string };
  }
}
