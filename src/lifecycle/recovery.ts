/**
 * Recovery at start: agents read back from the store are adopted in their last state. What a dead process
 * left half-done is settled here: an agent caught initializing is marked Failed (auto-recovery restarts it
 * with backoff), one caught terminating is terminated, and agents that were Running or Waiting are announced
 * for relaunch so the executor can bring their work back per execution mode.
 */
import type { EventStream } from "../core/events.js";
import type { AgentId } from "../core/ids.js";
import type { Logger } from "../core/logger.js";
import type { ExecutionModeType } from "../core/types.js";
import type { StoredAgent } from "../store/types.js";
import type { RecoveryReport, RelaunchRequest } from "./types.js";

declare module "../core/events.js" {
  interface RuntimeEventMap {
    /** An agent was Running or Waiting when the runtime stopped: its work has to be brought back. */
    "agent.relaunch_requested": { agent_id: AgentId; execution_mode: ExecutionModeType; action: RelaunchRequest["action"] };
    /** Start-up recovery finished: how many agents came back and what was done with them. */
    "lifecycle.recovered": { restored: number; relaunch: number; interrupted: number; terminated: number };
  }
}

export interface RecoverAgentsDeps {
  readonly rows: readonly StoredAgent[];
  /** Puts the agent back in the controller; false when it is already there. */
  adopt(row: StoredAgent): boolean;
  /** Moves the agent to Failed with `reason`, committed. */
  markInterrupted(id: AgentId, reason: string): Promise<void>;
  terminate(id: AgentId): Promise<void>;
  readonly events: EventStream;
  readonly logger: Logger;
}

export async function recoverAgents(deps: RecoverAgentsDeps): Promise<RecoveryReport> {
  const relaunch: RelaunchRequest[] = [];
  const interrupted: AgentId[] = [];
  const terminating: AgentId[] = [];
  let restored = 0;
  for (const row of deps.rows) {
    if (!deps.adopt(row)) continue;
    restored++;
    if (row.state === "Initializing") interrupted.push(row.id);
    else if (row.state === "Terminating") terminating.push(row.id);
    else if (row.state === "Running" || row.state === "Waiting") {
      const mode = row.config.execution_mode.type;
      // Only a Persistent agent has a long-lived process to start again; the others' work comes back
      // through their re-queued tasks, pending messages and schedules.
      relaunch.push({ agent_id: row.id, state: row.state, execution_mode: mode, action: mode === "Persistent" ? "relaunch" : "resume" });
    }
  }
  await Promise.all(interrupted.map((id) => deps.markInterrupted(id, "interrupted: the runtime stopped during initialization")));
  const terminated: AgentId[] = [];
  await Promise.all(
    terminating.map(async (id) => {
      try {
        await deps.markInterrupted(id, "interrupted: the runtime stopped during termination");
        await deps.terminate(id);
        terminated.push(id);
      } catch (err) {
        deps.logger.warn({ agent_id: id, err }, "could not finish a termination interrupted by the last stop");
      }
    }),
  );
  for (const r of relaunch) {
    deps.events.emit("agent.relaunch_requested", { agent_id: r.agent_id, execution_mode: r.execution_mode, action: r.action });
  }
  const report = { restored, relaunch, interrupted, terminated };
  deps.events.emit("lifecycle.recovered", { restored, relaunch: relaunch.length, interrupted: interrupted.length, terminated: terminated.length });
  deps.logger.info({ restored, relaunch: relaunch.length, interrupted: interrupted.length, terminated: terminated.length }, "agents recovered");
  return report;
}
