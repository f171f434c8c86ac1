/**
 * What agents running outside the runtime report about themselves (heartbeats and run events), kept per agent
 * in memory and bounded: the latest heartbeat, the last result, reported resource usage and the most recent
 * events. Forgotten when the agent is removed.
 */
import type { Clock } from "../core/clock.js";
import type { EventStream } from "../core/events.js";
import type { AgentId } from "../core/ids.js";

declare module "../core/events.js" {
  interface RuntimeEventMap {
    "agent.heartbeat_received": { agent_id: AgentId; state: string };
    "agent.run_reported": { agent_id: AgentId; event_type: RunEventType };
  }
}

export type RunEventType = "RunStarted" | "RunCompleted" | "RunFailed";

export interface RecentEvent {
  readonly event_type: RunEventType | "Heartbeat";
  readonly timestamp: string;
  readonly payload: unknown;
}

export interface ReportedUsage {
  readonly memory_bytes: number;
  readonly cpu_percent: number;
}

export interface AgentReport {
  last_seen: number;
  last_result?: unknown;
  metadata?: Record<string, string>;
  usage?: ReportedUsage;
  recent: RecentEvent[];
}

const MAX_RECENT = 20;
/** Larger payloads are kept as a size marker so that reports cannot grow memory without bound. */
const MAX_KEPT_BYTES = 16 * 1024;

function bounded(payload: unknown): unknown {
  if (payload === undefined) return null;
  const size = Buffer.byteLength(JSON.stringify(payload) ?? "");
  return size > MAX_KEPT_BYTES ? { truncated: true, bytes: size } : payload;
}

export class AgentActivity {
  readonly #reports = new Map<AgentId, AgentReport>();
  readonly #clock: Clock;
  readonly #events: EventStream;
  readonly #unsubscribe: () => void;

  constructor(clock: Clock, events: EventStream) {
    this.#clock = clock;
    this.#events = events;
    this.#unsubscribe = events.on("agent.removed", (e) => this.#reports.delete(e.agent_id));
  }

  get(agentId: AgentId): AgentReport | undefined {
    return this.#reports.get(agentId);
  }

  heartbeat(agentId: AgentId, state: string, body: { metadata?: Record<string, string>; last_result?: unknown; resource_usage?: ReportedUsage }): AgentReport {
    const r = this.#report(agentId);
    if (body.metadata) r.metadata = { ...body.metadata };
    if (body.last_result !== undefined) r.last_result = bounded(body.last_result);
    if (body.resource_usage) r.usage = { ...body.resource_usage };
    this.#push(r, { event_type: "Heartbeat", timestamp: new Date(r.last_seen).toISOString(), payload: { state } });
    this.#events.emit("agent.heartbeat_received", { agent_id: agentId, state });
    return r;
  }

  runEvent(agentId: AgentId, event_type: RunEventType, payload: unknown): AgentReport {
    const r = this.#report(agentId);
    const kept = bounded(payload);
    if (event_type !== "RunStarted") r.last_result = kept;
    this.#push(r, { event_type, timestamp: new Date(r.last_seen).toISOString(), payload: kept });
    this.#events.emit("agent.run_reported", { agent_id: agentId, event_type });
    return r;
  }

  close(): void {
    this.#unsubscribe();
  }

  #report(agentId: AgentId): AgentReport {
    let r = this.#reports.get(agentId);
    if (!r) this.#reports.set(agentId, (r = { last_seen: 0, recent: [] }));
    r.last_seen = this.#clock.now();
    return r;
  }

  #push(r: AgentReport, e: RecentEvent): void {
    r.recent.unshift(e);
    if (r.recent.length > MAX_RECENT) r.recent.length = MAX_RECENT;
  }
}
