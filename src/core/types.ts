/**
 * The spec's core types, translated to TypeScript. Data fields keep the spec's snake_case names (they are
 * also the JSON wire names); durations are numbers of milliseconds; timestamps are epoch milliseconds.
 */
import type { AgentId, MessageId } from "./ids.js";

/** An agent's place in its lifecycle. See `src/lifecycle/state-machine.ts` for the allowed transitions. */
export type AgentState =
  | "Created"
  | "Initializing"
  | "Ready"
  | "Running"
  | "Suspended"
  | "Waiting"
  | "Completed"
  | "Failed"
  | "Terminating"
  | "Terminated";

export const AGENT_STATES: readonly AgentState[] = [
  "Created",
  "Initializing",
  "Ready",
  "Running",
  "Suspended",
  "Waiting",
  "Completed",
  "Failed",
  "Terminating",
  "Terminated",
];

/**
 * How an agent runs. `Scheduled` fires every `interval` ms, or on `cron` (6-field, seconds first) when given.
 */
export type ExecutionMode =
  | { readonly type: "Persistent" }
  | { readonly type: "Ephemeral" }
  | { readonly type: "Scheduled"; readonly interval: number; readonly cron?: string; readonly timezone?: string }
  | { readonly type: "EventDriven" };

export type ExecutionModeType = ExecutionMode["type"];

/** Ordered Low < Normal < High < Critical; `PRIORITY_VALUE` gives the spec's numbers. */
export type Priority = "Low" | "Normal" | "High" | "Critical";

export const PRIORITY_VALUE: Readonly<Record<Priority, 1 | 2 | 3 | 4>> = { Low: 1, Normal: 2, High: 3, Critical: 4 };
export const PRIORITIES: readonly Priority[] = ["Low", "Normal", "High", "Critical"];

/** Negative when `a` is less urgent than `b`. */
export function comparePriority(a: Priority, b: Priority): number {
  return PRIORITY_VALUE[a] - PRIORITY_VALUE[b];
}

/** A capability an agent asks for. Custom capabilities carry their name, as serde writes `Custom(String)`. */
export type Capability = "FileSystem" | "Network" | "Database" | { readonly Custom: string };

/** A stable string for comparing and indexing capabilities: "Network", "Custom(gpu)". */
export function capabilityName(c: Capability): string {
  return typeof c === "string" ? c : `Custom(${c.Custom})`;
}

/**
 * The isolation an agent runs under. `Tier0` (bubblewrap + cgroups) is our embedded default and an addition
 * to the spec's three: Tier1 Docker, Tier2 gVisor, Tier3 microVM.
 */
export type SecurityTier = "Tier0" | "Tier1" | "Tier2" | "Tier3";
export const SECURITY_TIERS: readonly SecurityTier[] = ["Tier0", "Tier1", "Tier2", "Tier3"];
export const SECURITY_TIER_RANK: Readonly<Record<SecurityTier, 0 | 1 | 2 | 3>> = { Tier0: 0, Tier1: 1, Tier2: 2, Tier3: 3 };

export type IsolationLevel = "None" | "Low" | "Medium" | "High" | "Maximum";
export type EncryptionAlgorithm = "Aes256Gcm" | "ChaCha20Poly1305";

export interface SecurityContext {
  readonly tier: SecurityTier;
  readonly isolation_level: IsolationLevel;
  readonly encryption_algorithm: EncryptionAlgorithm;
  readonly signing_key?: Uint8Array;
  readonly encryption_key?: Uint8Array;
}

export interface ResourceLimits {
  readonly memory_mb: number;
  readonly cpu_cores: number;
  readonly disk_io_mbps: number;
  readonly network_io_mbps: number;
  /** ms */
  readonly execution_timeout: number;
  /** ms */
  readonly idle_timeout: number;
}

export interface ResourceUsage {
  /** bytes */
  readonly memory_used: number;
  /** cores in use (1.0 = one full core) */
  readonly cpu_usage: number;
  /** bytes/s */
  readonly disk_io_rate: number;
  /** bytes/s */
  readonly network_io_rate: number;
  /** ms */
  readonly uptime: number;
}

export interface ResourceAllocation {
  readonly agent_id: AgentId;
  readonly allocated_at: number;
  readonly limits: ResourceLimits;
  readonly current_usage: ResourceUsage;
}

/** One rule of a policy. `effect` follows the DSL's policy blocks; `action` is a dotted pattern. */
export interface PolicyRule {
  readonly effect: "allow" | "deny" | "require" | "audit";
  readonly action: string;
  readonly condition?: string;
  readonly description?: string;
}

export interface Policy {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly rules: readonly PolicyRule[];
  readonly priority: number;
  readonly enabled: boolean;
  /** When set, the policy is written in Cedar and `rules` is empty. */
  readonly cedar?: string;
}

/** A program run inside the agent's sandbox: the agent's entrypoint. */
export interface Entrypoint {
  readonly command: string;
  readonly args: readonly string[];
}

export interface AgentConfig {
  readonly id: AgentId;
  readonly name: string;
  readonly dsl_source: string;
  readonly execution_mode: ExecutionMode;
  readonly security_tier: SecurityTier;
  readonly resource_limits: ResourceLimits;
  readonly capabilities: readonly Capability[];
  readonly policies: readonly Policy[];
  readonly metadata: Readonly<Record<string, string>>;
  readonly priority: Priority;
  readonly entrypoint?: Entrypoint;
}

export interface AgentInstance {
  readonly id: AgentId;
  readonly config: AgentConfig;
  readonly state: AgentState;
  readonly created_at: number;
  readonly last_updated: number;
  readonly execution_count: number;
  readonly error_count: number;
  readonly restart_count: number;
}

export interface Message {
  readonly id: MessageId;
  readonly from: AgentId;
  readonly to: AgentId;
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly priority: Priority;
  /** ms; 0 means the bus's message_ttl. Never longer than message_ttl. */
  readonly ttl: number;
  /** Set on a reply: the id of the message it answers (request/response). An addition to the spec. */
  readonly correlation_id?: MessageId;
}

/**
 * A message as the recipient gets it: `message` is the verified, decrypted message; `signature` and
 * `encrypted_payload` are exactly what travelled (the payload is ciphertext unless encryption is off).
 */
export interface SecureMessage {
  readonly message: Message;
  readonly signature: Uint8Array;
  readonly encrypted_payload: Uint8Array;
  readonly timestamp: number;
}

export type DeliveryStatus = "Pending" | "Delivered" | "Failed" | "Expired";
