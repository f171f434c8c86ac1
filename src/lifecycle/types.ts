/**
 * The LifecycleController contract (the spec's 14 methods) and the hooks other components attach to it.
 */
import type { AgentId } from "../core/ids.js";
import type { AgentConfig, AgentInstance, AgentState } from "../core/types.js";

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
  shutdown(): Promise<void>;

  /**
   * Moves an agent along one edge of the state table (for the executor and scheduler: Running ⇄ Waiting,
   * Running → Failed, ...). Initialization and termination go through their own methods, which run hooks.
   */
  transition(agentId: AgentId, to: AgentState, reason?: string): Promise<void>;
  /** Attaches hooks run at initialize and terminate (components wired in runtime.ts). */
  addHooks(hooks: LifecycleHooks): void;
}
