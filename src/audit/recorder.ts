/**
 * How runtime events become audit records, so no component has to call the audit trail by hand.
 *
 * | Runtime event | AuditEventType |
 * | --- | --- |
 * | `agent.created` | AgentCreated |
 * | `agent.state_changed` to Running | AgentStarted |
 * | `agent.state_changed` to Completed or Suspended | AgentStopped |
 * | `agent.state_changed` to Terminated, `agent.removed` | AgentTerminated |
 * | `agent.state_changed` to Failed | ErrorOccurred |
 * | `agent.state_changed` to any other state | AgentStateChanged |
 * | `resource.allocated` / `resource.deallocated` | ResourceAllocated / ResourceDeallocated |
 * | `message.sent` | MessageSent |
 * | `message.delivered`, `message.received` | MessageReceived |
 * | `error.handled`, any `*.failed` | ErrorOccurred |
 * | `policy.denied` | PolicyViolation |
 * | `sandbox.security_event`, `resource.violation` | SecurityEvent |
 * | anything else | RuntimeEvent |
 *
 * Every record carries `metadata.event` (the runtime event's name) and the payload's scalar fields as
 * strings (objects as JSON). The trail's own `audit.*` events are not recorded: a failing store would
 * otherwise feed on its own failure reports.
 */
import { AgentId } from "../core/ids.js";
import type { RuntimeEvent } from "../core/events.js";
import type { AuditEventInput, AuditEventType } from "./types.js";

const BY_NAME: Readonly<Record<string, AuditEventType>> = {
  "agent.created": "AgentCreated",
  "agent.removed": "AgentTerminated",
  "resource.allocated": "ResourceAllocated",
  "resource.deallocated": "ResourceDeallocated",
  "message.sent": "MessageSent",
  "message.delivered": "MessageReceived",
  "message.received": "MessageReceived",
  "error.handled": "ErrorOccurred",
  "policy.denied": "PolicyViolation",
  "sandbox.security_event": "SecurityEvent",
  "resource.violation": "SecurityEvent",
};

const BY_STATE: Readonly<Record<string, AuditEventType>> = {
  Running: "AgentStarted",
  Completed: "AgentStopped",
  Suspended: "AgentStopped",
  Terminated: "AgentTerminated",
  Failed: "ErrorOccurred",
};

/** Metadata values the trail stores verbatim: long payload fields are cut so one event cannot bloat the trail. */
const MAX_VALUE_LENGTH = 4096;

function asString(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  let s: string;
  if (typeof v === "string") s = v;
  else if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") s = String(v);
  else if (v instanceof Uint8Array) s = `<${v.byteLength} bytes>`;
  else if (v instanceof Error) s = `${v.name}: ${v.message}`;
  else {
    try {
      s = JSON.stringify(v) ?? String(v);
    } catch {
      s = String(v);
    }
  }
  return s.length > MAX_VALUE_LENGTH ? `${s.slice(0, MAX_VALUE_LENGTH)}…` : s;
}

function typeOf(event: RuntimeEvent): AuditEventType {
  const name = event.type as string;
  if (name === "agent.state_changed") return BY_STATE[String((event as { to?: unknown }).to)] ?? "AgentStateChanged";
  return BY_NAME[name] ?? (name.endsWith(".failed") ? "ErrorOccurred" : "RuntimeEvent");
}

function describe(name: string, m: Record<string, string>): string {
  const agent = m.agent_id ? `agent ${m.agent_id}` : "";
  switch (name) {
    case "agent.created":
      return `${agent} created${m.name ? ` (name ${m.name})` : ""}`;
    case "agent.state_changed":
      return `${agent} changed state ${m.from} -> ${m.to}${m.reason ? `: ${m.reason}` : ""}`;
    case "agent.removed":
      return `${agent} removed`;
    default: {
      const why = m.reason ?? m.message ?? m.error;
      return `${name}${agent ? ` for ${agent}` : ""}${why ? `: ${why}` : ""}`;
    }
  }
}

/** The audit record for one runtime event, or undefined for events the trail does not record. */
export function auditEventFromRuntime(event: RuntimeEvent): AuditEventInput | undefined {
  const name = event.type as string;
  if (name.startsWith("audit.")) return undefined;
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(event)) {
    if (k === "type" || k === "at") continue;
    const s = asString(v);
    if (s !== undefined) metadata[k] = s;
  }
  metadata.event = name;
  const rawAgent = (event as { agent_id?: unknown }).agent_id;
  return {
    event_type: typeOf(event),
    timestamp: Math.floor(event.at),
    agent_id: AgentId.is(rawAgent) ? AgentId.parse(rawAgent) : null,
    details: describe(name, metadata).trim(),
    metadata,
  };
}
