/**
 * The agent state machine: the one table of allowed transitions. Anything not listed is refused with
 * `INVALID_STATE_TRANSITION` and leaves the state unchanged.
 */
import type { AgentState } from "../core/types.js";

export const TRANSITIONS: Readonly<Record<AgentState, readonly AgentState[]>> = {
  Created: ["Initializing"],
  Initializing: ["Ready", "Failed"],
  Ready: ["Running", "Suspended", "Terminating"],
  Running: ["Suspended", "Waiting", "Completed", "Failed", "Terminating"],
  Waiting: ["Running", "Suspended", "Failed", "Terminating"],
  Suspended: ["Running", "Terminating"],
  Completed: ["Running", "Terminating"],
  Failed: ["Initializing", "Terminating"],
  Terminating: ["Terminated"],
  Terminated: [],
};

export function canTransition(from: AgentState, to: AgentState): boolean {
  return TRANSITIONS[from].includes(to);
}

/**
 * States from which `restart_agent` re-initialises the agent in place (no Terminating): the restart edge
 * into Initializing is the only way out of Running or Completed that the table above does not list.
 */
export const RESTARTABLE_STATES: readonly AgentState[] = ["Failed", "Completed", "Running"];

/** States an agent reaches only after its initialization hooks ran (its sandbox, bus identity, schedule exist). */
export const INITIALIZED_STATES: ReadonlySet<AgentState> = new Set(["Ready", "Running", "Waiting", "Suspended", "Completed"]);

/** States in which an agent still counts against max_agents and can be operated on. */
export function isLive(state: AgentState): boolean {
  return state !== "Terminated";
}
