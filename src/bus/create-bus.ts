/**
 * Builds the communication bus over the transport named in `config.communication.transport`. The NATS
 * driver is loaded only when that transport is chosen. With a durable state store, the bus keeps its keys
 * (sealed under the key-encryption key file `<data_dir>/bus-keys.kek`, created 0600 on first start), dead
 * letters and statuses there, and the memory transport commits accepted messages to it.
 */
import { join } from "node:path";
import type { Authorizer } from "../core/authorizer.js";
import type { Clock } from "../core/clock.js";
import type { CommunicationConfig } from "../core/config/index.js";
import type { EventStream } from "../core/events.js";
import type { Logger } from "../core/logger.js";
import type { StateStore } from "../store/types.js";
import { AtRestCipher } from "./at-rest.js";
import { DurableBusState } from "./durable-state.js";
import { MemoryTransport, type DurableMessages } from "./memory-transport.js";
import { SecureCommunicationBus } from "./secure-bus.js";
import type { BusTransport } from "./transport.js";
import type { CommunicationBus } from "./types.js";

export interface CreateBusOptions {
  readonly config: CommunicationConfig;
  readonly authorizer: Authorizer;
  readonly clock: Clock;
  readonly events: EventStream;
  readonly logger: Logger;
  /** A durable state store and the data dir holding the key-encryption key file; absent: nothing persists. */
  readonly durable?: { readonly store: StateStore; readonly dataDir: string };
}

/** The key-encryption key file of a data dir. */
export function busKekFile(dataDir: string): string {
  return join(dataDir, "bus-keys.kek");
}

/** Opens the configured transport. NATS: connects and creates its streams; TRANSPORT_UNAVAILABLE if it cannot. */
export async function createTransport(config: CommunicationConfig, logger: Logger, durable?: DurableMessages): Promise<BusTransport> {
  if (config.transport === "nats") {
    const { NatsTransport } = await import("./nats-transport.js");
    return NatsTransport.connect(config, logger);
  }
  return new MemoryTransport(durable);
}

/**
 * @example
 * const bus = await createCommunicationBus({ config: config.communication, authorizer, clock, events, logger });
 * await bus.registerAgent(a, []);
 * await bus.sendMessage({ id: MessageId.new(), from: a, to: b, topic: "greet", payload, priority: "Normal", ttl: 0 });
 */
export async function createCommunicationBus(options: CreateBusOptions): Promise<CommunicationBus> {
  const { durable: where, ...rest } = options;
  const durable = where && new DurableBusState(where.store, AtRestCipher.open(busKekFile(where.dataDir)));
  const transport = await createTransport(
    options.config,
    options.logger,
    durable && { messages: durable.messages, clock: options.clock, logger: options.logger.child({ component: "bus" }) },
  );
  return new SecureCommunicationBus({ ...rest, transport, ...(durable ? { durable } : {}) });
}
