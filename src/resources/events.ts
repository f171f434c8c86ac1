/** The events the resource manager emits (the audit trail maps these names). */
import type { AgentId } from "../core/ids.js";
import type { ResourceLimits } from "../core/types.js";
import type { ResourceKind, ResourceViolation } from "./types.js";

declare module "../core/events.js" {
  interface RuntimeEventMap {
    "resource.allocated": { agent_id: AgentId; limits: ResourceLimits };
    "resource.deallocated": { agent_id: AgentId; limits: ResourceLimits };
    "resource.limits_updated": { agent_id: AgentId; from: ResourceLimits; to: ResourceLimits; killed: boolean };
    /** `enforced`: handed to the error handler (enforcement on and a handler attached). */
    "resource.violation": ResourceViolation & { enforced: boolean };
    /** What the error handler's strategy did about a violation. */
    "resource.enforced": { agent_id: AgentId; resource: ResourceKind; action: string };
    "resource.alert": { agent_id: AgentId; resource: ResourceKind; threshold: number; percent: number; value: number; limit: number };
    "resource.alert_cleared": { agent_id: AgentId; resource: ResourceKind; threshold: number; percent: number };
    "resource.scaled": { agent_id: AgentId; resource: "memory" | "cpu"; from: number; to: number; ceiling: number };
  }
}

export {};
