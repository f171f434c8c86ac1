/**
 * What the bus keeps in the state store when the runtime has a durable one: agents' key pairs (sealed at
 * rest, so messages persisted for an agent can still be verified and opened after a restart), the
 * dead-letter queue (a dead letter's plaintext sealed at rest too) and final message statuses. The memory
 * transport keeps the accepted-but-undelivered envelopes themselves (see `memory-transport.ts`).
 */
import type { ErrorCode } from "../core/error-codes.js";
import type { AgentId, MessageId } from "../core/ids.js";
import type { DeliveryStatus, Message, Priority } from "../core/types.js";
import type { StateStore, DeadLetter as StoredDeadLetter } from "../store/types.js";
import type { AtRestCipher } from "./at-rest.js";
import type { KeyStore } from "./key-store.js";
import type { DeadLetter } from "./types.js";

/** The dead-letter fields kept as JSON beside the store's own columns. */
interface DeadLetterDetails {
  readonly code: ErrorCode;
  readonly message_id?: MessageId;
  readonly from?: AgentId;
  readonly to?: AgentId;
  readonly topic?: string;
  readonly priority?: Priority;
  /** The authenticated message, JSON with a base64 payload, sealed at rest (base64). */
  readonly sealed_message?: string;
}

export class DurableBusState {
  readonly #store: Pick<StateStore, "busKeys" | "deadLetters" | "messages">;
  readonly #cipher: AtRestCipher;
  /**
   * Every agent's stored keys, read in one query when the first agent registers (at start-up every agent
   * registers at once); each entry is taken when used, and the rest dropped once `restore` is done.
   */
  #stored: Map<AgentId, Uint8Array> | undefined;
  /** The agents of that read (entries taken from `#stored` stay here, for `storedAgents`). */
  #storedIds: Set<AgentId> | undefined;
  #storedRead = false;
  /** Whether one stored record has been opened: a wrong key-encryption key shows on the first. */
  #kekChecked = false;

  constructor(store: Pick<StateStore, "busKeys" | "deadLetters" | "messages">, cipher: AtRestCipher) {
    this.#store = store;
    this.#cipher = cipher;
  }

  get messages(): StateStore["messages"] {
    return this.#store.messages;
  }

  /**
   * Adopts the agent's stored keys, or creates keys and commits them before returning; true when it created
   * them. The first stored record is opened at once, so a wrong key-encryption key stops start-up; the others
   * are opened (and an edited one refused, naming it) when the agent's keys are first needed.
   */
  async obtainKeys(keys: KeyStore, agentId: AgentId): Promise<boolean> {
    if (keys.has(agentId)) return false;
    const sealed = await this.#sealedKeys(agentId);
    if (sealed) {
      const open = (): Buffer => this.#cipher.open(sealed, `bus-keys:${agentId}`);
      keys.adoptPrivate(agentId, this.#kekChecked ? open : open());
      this.#kekChecked = true;
      return false;
    }
    keys.create(agentId);
    try {
      await this.#store.busKeys.put(agentId, this.#cipher.seal(keys.exportPrivate(agentId), `bus-keys:${agentId}`));
    } catch (err) {
      keys.delete(agentId);
      throw err;
    }
    return true;
  }

  async forgetKeys(agentId: AgentId): Promise<void> {
    this.#stored?.delete(agentId);
    this.#storedIds?.delete(agentId);
    await this.#store.busKeys.remove(agentId);
  }

  /** Agents that were registered when the runtime last stopped (their keys are stored), from the one read. */
  async storedAgents(): Promise<AgentId[]> {
    await this.#readStored();
    return [...(this.#storedIds ?? (await this.#store.busKeys.list()).map((k) => k.agent_id))];
  }

  /** Start-up registration is over: later registrations read their agent's keys alone. */
  restored(): void {
    this.#storedRead = true;
    this.#stored = undefined;
    this.#storedIds = undefined;
  }

  async #readStored(): Promise<void> {
    if (this.#storedRead) return;
    this.#storedRead = true;
    const rows = await this.#store.busKeys.list();
    this.#stored = new Map(rows.map((k) => [k.agent_id, k.sealed]));
    this.#storedIds = new Set(this.#stored.keys());
  }

  async #sealedKeys(agentId: AgentId): Promise<Uint8Array | undefined> {
    await this.#readStored();
    const prefetched = this.#stored?.get(agentId);
    if (prefetched) {
      this.#stored?.delete(agentId);
      return prefetched;
    }
    return this.#store.busKeys.get(agentId);
  }

  async addDeadLetter(dead: DeadLetter, capacity: number): Promise<void> {
    const details: DeadLetterDetails = {
      code: dead.code,
      ...(dead.message_id ? { message_id: dead.message_id } : {}),
      ...(dead.from ? { from: dead.from } : {}),
      ...(dead.to ? { to: dead.to } : {}),
      ...(dead.topic !== undefined ? { topic: dead.topic } : {}),
      ...(dead.priority ? { priority: dead.priority } : {}),
      ...(dead.message ? { sealed_message: this.#cipher.seal(Buffer.from(messageJson(dead.message)), `dead-letter:${dead.id}`).toString("base64") } : {}),
    };
    const row: StoredDeadLetter = {
      id: dead.id,
      kind: "message",
      ref_id: dead.message_id ?? dead.id,
      agent_id: dead.to ?? null,
      reason: dead.reason,
      attempts: dead.attempts,
      payload: details,
      created_at: dead.dead_at,
    };
    await this.#store.deadLetters.add(row, capacity);
  }

  async removeDeadLetter(id: string): Promise<void> {
    await this.#store.deadLetters.remove(id);
  }

  /** The stored bus dead letters, oldest first (task dead letters share the table and are left out). */
  async deadLetters(): Promise<DeadLetter[]> {
    const rows = await this.#store.deadLetters.list();
    return rows.filter((r) => r.kind === "message").map((r) => this.#fromRow(r));
  }

  /** The status the store holds for a message this bus accepted (memory transport). */
  async status(id: MessageId): Promise<DeliveryStatus | undefined> {
    const stored = await this.#store.messages.get(id);
    if (!stored) return undefined;
    return stored.status === "InFlight" ? "Pending" : stored.status;
  }

  #fromRow(r: StoredDeadLetter): DeadLetter {
    const d = r.payload as DeadLetterDetails;
    return {
      id: r.id,
      ...(d.message_id ? { message_id: d.message_id } : {}),
      ...(d.from ? { from: d.from } : {}),
      ...(d.to ? { to: d.to } : {}),
      ...(d.topic !== undefined ? { topic: d.topic } : {}),
      ...(d.priority ? { priority: d.priority } : {}),
      code: d.code,
      reason: r.reason,
      dead_at: r.created_at,
      attempts: r.attempts,
      ...(d.sealed_message ? { message: parseMessage(this.#cipher.open(Buffer.from(d.sealed_message, "base64"), `dead-letter:${r.id}`)) } : {}),
    };
  }
}

function messageJson(m: Message): string {
  return JSON.stringify({ ...m, payload: Buffer.from(m.payload.buffer, m.payload.byteOffset, m.payload.byteLength).toString("base64") });
}

function parseMessage(bytes: Buffer): Message {
  const m = JSON.parse(bytes.toString("utf8")) as Omit<Message, "payload"> & { payload: string };
  return { ...m, payload: new Uint8Array(Buffer.from(m.payload, "base64")) };
}
