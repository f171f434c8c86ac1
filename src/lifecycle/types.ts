/**
 * The LifecycleController contract (the spec's 14 methods) and the hooks other components attach to it.
 */
import type { AgentId } from "../core/ids.js";
import type { AgentConfig, AgentInstance, AgentState, ExecutionModeType } from "../core/types.js";

/** An agent that was Running or Waiting when the runtime stopped. */
export interface RelaunchRequest {
  readonly agent_id: AgentId;
  readonly state: "Running" | "Waiting";
  readonly execution_mode: ExecutionModeType;
  /**
   * `relaunch`: a Persistent agent whose long-lived process must be started again in a new sandbox.
   * `resume`: nothing to start; its re-queued tasks, pending messages and schedules bring its work back.
   */
  readonly action: "relaunch" | "resume";
}

/** What `recover()` found in the store and did with it. */
export interface RecoveryReport {
  /** Agents loaded back, in their last state. */
  readonly restored: number;
  readonly relaunch: readonly RelaunchRequest[];
  /** Agents caught initializing: now Failed, so auto-recovery restarts them. */
  readonly interrupted: readonly AgentId[];
  /** Agents caught terminating: their termination was completed. */
  readonly terminated: readonly AgentId[];
  /** Agents whose `onRecover` hooks failed: now Failed with the reason, so auto-recovery restarts them. */
  readonly unrecovered: readonly AgentId[];
}

export interface SystemStatus {
  /** Number of live agents in each state. */
  readonly agents_by_state: Readonly<Record<AgentState, number>>;
  readonly total_agents: number;
  readonly total_created: number;
  readonly total_terminated: number;
  readonly total_restarts: number;
  readonly total_errors: number;
  readonly total_executions: number;
  /** ms since the controller started */
  readonly uptime: number;
  readonly started_at: number;
  readonly shut_down: boolean;
}

/**
 * Work other components do at lifecycle edges (create a sandbox and allocate resources on initialize,
 * release them on terminate). Each hook runs under the configured timeout and receives an AbortSignal that
 * fires when the timeout expires.
 */
export interface LifecycleHooks {
  readonly name: string;
  onInitialize?(agent: AgentInstance, signal: AbortSignal): Promise<void>;
  onTerminate?(agent: AgentInstance, signal: AbortSignal): Promise<void>;
  /**
   * Start-up recovery brought the agent back from the store in `agent.state` (never Initializing or
   * Terminating: recovery settles those itself). Rebuilds what lived only in the dead process — for an agent
   * in an INITIALIZED_STATES state, what `onInitialize` had set up. A throw parks the agent in Failed, from
   * where auto-recovery re-initializes it. The hooks of all agents share one deadline (initialization_timeout
   * for each agent a recovery lane works through); a hook still running then fails its agent the same way.
   */
  onRecover?(agent: AgentInstance, signal: AbortSignal): Promise<void>;
}

/** Checks an agent configuration against policy (the policy engine's validateAgentConfig). */
export interface AgentConfigValidator {
  validateAgentConfig(config: AgentConfig): Promise<{
    readonly valid: boolean;
    readonly violations: readonly { readonly field: string; readonly message: string; readonly policy_id?: string }[];
  }>;
}

export interface LifecycleController {
  createAgent(config: AgentConfig): Promise<AgentInstance>;
  initializeAgent(agentId: AgentId): Promise<void>;
  startAgent(agentId: AgentId): Promise<void>;
  /** Graceful stop: Running → Completed. */
  stopAgent(agentId: AgentId): Promise<void>;
  suspendAgent(agentId: AgentId): Promise<void>;
  /** Suspended → Running; refused from any other state. */
  resumeAgent(agentId: AgentId): Promise<void>;
  /** Terminating → Terminated, then the agent is removed: later lookups fail with AGENT_NOT_FOUND. */
  terminateAgent(agentId: AgentId): Promise<void>;
  getAgentState(agentId: AgentId): Promise<AgentState>;
  listAgents(): Promise<AgentInstance[]>;
  getAgent(agentId: AgentId): Promise<AgentInstance>;
  updateAgentConfig(agentId: AgentId, config: AgentConfig): Promise<void>;
  /** Re-initialises in place (Failed/Completed/Running → Initializing → Ready → Running). */
  restartAgent(agentId: AgentId): Promise<void>;
  getSystemStatus(): Promise<SystemStatus>;
  /** The spec's shutdown: terminates every agent (running termination hooks), then refuses calls. */
  shutdown(): Promise<void>;
  /**
   * Graceful stop that keeps agents: refuses new calls and waits for queued operations to commit; no
   * termination hook runs and nothing is removed, so a restart on the same store brings every agent back.
   */
  close(): Promise<void>;
  /**
   * Loads the agents persisted in the store (call once at start, after every component added its hooks).
   * Runs every agent through the `onRecover` hooks, then emits `lifecycle.recovered`.
   */
  recover(): Promise<RecoveryReport>;

  /**
   * Moves an agent along one edge of the state table (for the executor and scheduler: Running ⇄ Waiting,
   * Running → Failed, ...). Initialization and termination go through their own methods, which run hooks.
   */
  transition(agentId: AgentId, to: AgentState, reason?: string): Promise<void>;
  /** Attaches hooks run at initialize and terminate (components wired in runtime.ts). */
  addHooks(hooks: LifecycleHooks): void;
}
