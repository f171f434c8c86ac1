import { describe, expect, it } from "vitest";
import { AGENT_STATES, type AgentState } from "../core/types.js";
import { canTransition } from "./state-machine.js";

// Written out independently of TRANSITIONS, from the list of allowed edges.
const ALLOWED = new Set([
  "Created>Initializing",
  "Initializing>Ready",
  "Initializing>Failed",
  "Ready>Running",
  "Ready>Suspended",
  "Ready>Terminating",
  "Running>Suspended",
  "Running>Waiting",
  "Running>Completed",
  "Running>Failed",
  "Running>Terminating",
  "Waiting>Running",
  "Waiting>Suspended",
  "Waiting>Failed",
  "Waiting>Terminating",
  "Suspended>Running",
  "Suspended>Terminating",
  "Completed>Running",
  "Completed>Terminating",
  "Failed>Initializing",
  "Failed>Terminating",
  "Terminating>Terminated",
]);

describe("lifecycle - state table", () => {
  const pairs: [AgentState, AgentState][] = AGENT_STATES.flatMap((from) => AGENT_STATES.map((to) => [from, to] as [AgentState, AgentState]));

  it("covers all 100 pairs", () => {
    expect(pairs).toHaveLength(100);
  });

  it.each(pairs)("%s -> %s", (from, to) => {
    expect(canTransition(from, to)).toBe(ALLOWED.has(`${from}>${to}`));
  });
});
