/**
 * Builds the communication bus over the transport named in `config.communication.transport`. The NATS
 * driver is loaded only when that transport is chosen.
 */
import type { Authorizer } from "../core/authorizer.js";
import type { Clock } from "../core/clock.js";
import type { CommunicationConfig } from "../core/config/index.js";
import type { EventStream } from "../core/events.js";
import type { Logger } from "../core/logger.js";
import { MemoryTransport } from "./memory-transport.js";
import { SecureCommunicationBus } from "./secure-bus.js";
import type { BusTransport } from "./transport.js";
import type { CommunicationBus } from "./types.js";

export interface CreateBusOptions {
  readonly config: CommunicationConfig;
  readonly authorizer: Authorizer;
  readonly clock: Clock;
  readonly events: EventStream;
  readonly logger: Logger;
}

/** Opens the configured transport. NATS: connects and creates its streams; TRANSPORT_UNAVAILABLE if it cannot. */
export async function createTransport(config: CommunicationConfig, logger: Logger): Promise<BusTransport> {
  if (config.transport === "nats") {
    const { NatsTransport } = await import("./nats-transport.js");
    return NatsTransport.connect(config, logger);
  }
  return new MemoryTransport();
}

/**
 * @example
 * const bus = await createCommunicationBus({ config: config.communication, authorizer, clock, events, logger });
 * await bus.registerAgent(a, []);
 * await bus.sendMessage({ id: MessageId.new(), from: a, to: b, topic: "greet", payload, priority: "Normal", ttl: 0 });
 */
export async function createCommunicationBus(options: CreateBusOptions): Promise<CommunicationBus> {
  const transport = await createTransport(options.config, options.logger);
  return new SecureCommunicationBus({ ...options, transport });
}
