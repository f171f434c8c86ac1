/**
 * The ErrorHandler contract (the spec's seven methods), its data types, and the collaborators it carries
 * its decisions out through: the lifecycle controller (restart, suspend, terminate), the scheduler's
 * TaskControl (retry, failover, cancel) and the executor's sandbox cleanup. The handler owns no
 * connections; it holds bounded error history and per-agent circuit breakers in memory.
 */
import type { RuntimeError } from "../core/errors.js";
import type { AgentId, TaskId } from "../core/ids.js";
import type { LifecycleController } from "../lifecycle/types.js";
import type { TaskControl, TaskFailureSink } from "../scheduler/types.js";

export type ErrorType =
  | "ResourceExhaustion"
  | "NetworkError"
  | "SecurityViolation"
  | "PolicyViolation"
  | "SystemError"
  | "ValidationError";

export const ERROR_TYPES: readonly ErrorType[] = [
  "ResourceExhaustion",
  "NetworkError",
  "SecurityViolation",
  "PolicyViolation",
  "SystemError",
  "ValidationError",
];

/** How to recover from one type of error (the spec's RecoveryStrategy). Durations in ms. */
export type RecoveryStrategy =
  | { readonly type: "Retry"; readonly max_attempts: number; readonly backoff: number }
  | { readonly type: "Restart"; readonly preserve_state: boolean }
  | { readonly type: "Failover"; readonly backup_agent?: AgentId }
  | { readonly type: "Terminate"; readonly cleanup: boolean }
  | { readonly type: "Manual"; readonly reason: string }
  | { readonly type: "None" };

/**
 * What the handler decided and carried out (the spec's ErrorAction). `backoff` of a Retry is the actual
 * delay before this retry (after multiplier and jitter). `None` is our addition: nothing to do (a
 * strategy of None, or retries exhausted) — the task fails.
 */
export type ErrorAction =
  | { readonly type: "Retry"; readonly max_attempts: number; readonly backoff: number }
  | { readonly type: "Restart" }
  | { readonly type: "Suspend"; readonly reason: string }
  | { readonly type: "Terminate" }
  | { readonly type: "Failover"; readonly backup_agent: AgentId }
  | { readonly type: "None"; readonly reason: string };

export type ErrorActionType = ErrorAction["type"];
export const ERROR_ACTION_TYPES: readonly ErrorActionType[] = ["Retry", "Restart", "Suspend", "Terminate", "Failover", "None"];

export type CircuitState = "Closed" | "Open" | "HalfOpen";

/** Where an error happened, when it happened to a task. */
export interface ErrorContext {
  readonly task_id?: TaskId;
  /** Runs of the task so far (1 after the first failure). */
  readonly attempt?: number;
}

export interface ErrorRecord {
  readonly agent_id: AgentId;
  readonly at: number;
  readonly error_type: ErrorType;
  readonly code: string;
  readonly message: string;
  readonly task_id?: TaskId;
  readonly action: ErrorActionType;
}

/** Per-agent overrides of the configured thresholds. */
export interface ErrorThresholds {
  readonly escalation_threshold?: number;
  readonly circuit_breaker_threshold?: number;
  readonly max_recovery_attempts?: number;
}

export interface ErrorStatistics {
  readonly agent_id: AgentId;
  readonly total_errors: number;
  /** Errors within error_aggregation_window. */
  readonly recent_errors: number;
  readonly errors_by_type: Readonly<Record<ErrorType, number>>;
  readonly actions: Readonly<Record<ErrorActionType, number>>;
  readonly circuit_state: CircuitState;
  readonly escalations: number;
  readonly last_error?: ErrorRecord;
  readonly thresholds: Required<ErrorThresholds>;
}

export interface SystemErrorStatistics {
  readonly total_errors: number;
  readonly errors_by_type: Readonly<Record<ErrorType, number>>;
  readonly actions: Readonly<Record<ErrorActionType, number>>;
  readonly agents_with_errors: number;
  readonly open_circuits: number;
  readonly escalations: number;
  /** Records currently held (at most max_error_history). */
  readonly history_size: number;
  /** Recovery actions that could not be carried out. */
  readonly failed_recoveries: number;
}

/** The executor's part in recovery: throw away an agent's sandbox (terminate, restart without state). */
export interface AgentSandboxCleanup {
  destroyAgentSandbox(agentId: AgentId): Promise<void>;
}

export type ErrorLifecycle = Pick<
  LifecycleController,
  "restartAgent" | "suspendAgent" | "terminateAgent" | "transition" | "getAgent" | "listAgents"
>;

export interface ErrorHandler extends TaskFailureSink {
  /** Records the error, decides an action by its type's strategy, carries it out and returns it. */
  handleError(agentId: AgentId, error: unknown, context?: ErrorContext): Promise<ErrorAction>;
  registerStrategy(errorType: ErrorType, strategy: RecoveryStrategy): Promise<void>;
  getErrorStats(agentId: AgentId): Promise<ErrorStatistics>;
  getSystemErrorStats(): Promise<SystemErrorStatistics>;
  setErrorThresholds(agentId: AgentId, thresholds: ErrorThresholds): Promise<void>;
  clearErrorHistory(agentId: AgentId): Promise<void>;
  /** Newest last; the agent's records, or everyone's. */
  getErrorHistory(agentId?: AgentId): Promise<ErrorRecord[]>;
  getCircuitState(agentId: AgentId): CircuitState;
  /** Late wiring of the collaborators built after the handler (the scheduler, the executor). */
  attach(collaborators: { tasks?: TaskControl; sandboxes?: AgentSandboxCleanup }): void;
  shutdown(): Promise<void>;
}

/** Classification helper type: RuntimeErrors are classified by family and code. */
export type Classifier = (error: RuntimeError) => ErrorType;
