/**
 * The runtime's typed event stream: how components tell each other what happened without reaching into each
 * other's state. Names are `<component>.<past-tense verb>`. Components declare their events by augmenting
 * `RuntimeEventMap` next to the code that emits them:
 *
 * @example
 * declare module "../core/events.js" {
 *   interface RuntimeEventMap { "message.sent": { message_id: MessageId; to: AgentId } }
 * }
 */
import type { Logger } from "./logger.js";
import type { Clock } from "./clock.js";
import type { AgentId } from "./ids.js";
import type { AgentState } from "./types.js";

/** Payloads by event name. Augmented by components (see the module comment). */
export interface RuntimeEventMap {
  "agent.created": { agent_id: AgentId; name: string };
  "agent.state_changed": { agent_id: AgentId; from: AgentState; to: AgentState; reason?: string };
  "agent.updated": { agent_id: AgentId };
  "agent.removed": { agent_id: AgentId };
  "agent.restart_scheduled": { agent_id: AgentId; attempt: number; delay_ms: number };
  "runtime.started": { version: string };
  "runtime.stopping": Record<string, never>;
}

export type RuntimeEventType = keyof RuntimeEventMap;

/** An event as delivered: its name, when it happened, and its payload. */
export type RuntimeEvent<K extends RuntimeEventType = RuntimeEventType> = {
  [P in K]: { readonly type: P; readonly at: number } & Readonly<RuntimeEventMap[P]>;
}[K];

export type EventListener<K extends RuntimeEventType> = (event: RuntimeEvent<K>) => void;
export type AnyEventListener = (event: RuntimeEvent) => void;

export interface EventStream {
  on<K extends RuntimeEventType>(type: K, listener: EventListener<K>): () => void;
  /** Every event, whatever its type (audit and metrics use this). */
  onAny(listener: AnyEventListener): () => void;
  emit<K extends RuntimeEventType>(type: K, payload: RuntimeEventMap[K]): void;
  /** Whether an event of this type would reach any listener (a hot path skips building an unheard payload). */
  listening(type: RuntimeEventType): boolean;
}

/**
 * Synchronous in-process emitter. A listener that throws is logged and never breaks the emitter or the
 * component that emitted.
 */
export class RuntimeEvents implements EventStream {
  readonly #listeners = new Map<RuntimeEventType, Set<(e: RuntimeEvent) => void>>();
  readonly #any = new Set<AnyEventListener>();

  constructor(
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  on<K extends RuntimeEventType>(type: K, listener: EventListener<K>): () => void {
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, (set = new Set()));
    const fn = listener as (e: RuntimeEvent) => void;
    set.add(fn);
    return () => set.delete(fn);
  }

  onAny(listener: AnyEventListener): () => void {
    this.#any.add(listener);
    return () => this.#any.delete(listener);
  }

  emit<K extends RuntimeEventType>(type: K, payload: RuntimeEventMap[K]): void {
    const set = this.#listeners.get(type);
    if (!set?.size && !this.#any.size) return;
    const event = { type, at: this.clock.now(), ...payload } as unknown as RuntimeEvent;
    if (set) for (const fn of set) this.#call(fn, event);
    for (const fn of this.#any) this.#call(fn, event);
  }

  listening(type: RuntimeEventType): boolean {
    return this.#any.size > 0 || (this.#listeners.get(type)?.size ?? 0) > 0;
  }

  #call(fn: (e: RuntimeEvent) => void, event: RuntimeEvent): void {
    try {
      fn(event);
    } catch (err) {
      this.logger.error({ err, event: event.type }, "event listener threw");
    }
  }
}
