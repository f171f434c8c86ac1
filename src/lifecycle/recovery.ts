/**
 * Recovery at start: agents read back from the store are adopted in their last state. What a dead process
 * left half-done is settled here: an agent caught initializing is marked Failed (auto-recovery restarts it
 * with backoff), one caught terminating is terminated. Every other agent is handed to the components'
 * `onRecover` hooks, which rebuild what lived only in the dead process (bus queue, message listener,
 * schedule, and for a Persistent program agent that was at work, its process); the report lists the agents
 * that were Running or Waiting and what their recovery meant per execution mode.
 */
import type { EventStream } from "../core/events.js";
import type { AgentId } from "../core/ids.js";
import type { Logger } from "../core/logger.js";
import type { StoredAgent } from "../store/types.js";
import type { RecoveryReport, RelaunchRequest } from "./types.js";

declare module "../core/events.js" {
  interface RuntimeEventMap {
    /** Start-up recovery finished: how many agents came back and what was done with them. */
    "lifecycle.recovered": { restored: number; relaunch: number; interrupted: number; terminated: number; unrecovered: number };
  }
}

export interface RecoverAgentsDeps {
  readonly rows: readonly StoredAgent[];
  /** Puts the agent back in the controller; false when it is already there. */
  adopt(row: StoredAgent): boolean;
  /** Moves the agent to Failed with `reason`, committed. */
  markInterrupted(id: AgentId, reason: string): Promise<void>;
  terminate(id: AgentId): Promise<void>;
  /** Runs the `onRecover` hooks for an adopted agent; a throw means the agent could not be brought back. */
  restore(id: AgentId): Promise<void>;
  readonly events: EventStream;
  readonly logger: Logger;
}

/** Hooks of this many agents run at once: enough to overlap their I/O, few enough to bound memory at 100k agents. */
export const RESTORE_CONCURRENCY = 256;

export async function recoverAgents(deps: RecoverAgentsDeps): Promise<RecoveryReport> {
  const relaunch: RelaunchRequest[] = [];
  const interrupted: AgentId[] = [];
  const terminating: AgentId[] = [];
  const settled: AgentId[] = [];
  let restored = 0;
  for (const row of deps.rows) {
    if (!deps.adopt(row)) continue;
    restored++;
    if (row.state === "Initializing") interrupted.push(row.id);
    else if (row.state === "Terminating") terminating.push(row.id);
    else {
      settled.push(row.id);
      if (row.state === "Running" || row.state === "Waiting") {
        const mode = row.config.execution_mode.type;
        // Only a Persistent agent has a long-lived process to start again; the others' work comes back
        // through their re-queued tasks, pending messages and schedules.
        relaunch.push({ agent_id: row.id, state: row.state, execution_mode: mode, action: mode === "Persistent" ? "relaunch" : "resume" });
      }
    }
  }
  const unrecovered: AgentId[] = [];
  await forEachLimited(settled, RESTORE_CONCURRENCY, async (id) => {
    try {
      await deps.restore(id);
    } catch (err) {
      unrecovered.push(id);
      const reason = err instanceof Error ? err.message : String(err);
      deps.logger.warn({ agent_id: id, err }, "an agent could not be brought back after the last stop");
      await deps.markInterrupted(id, `recovery failed: ${reason}`).catch((markErr: unknown) => {
        deps.logger.error({ agent_id: id, err: markErr }, "could not record a failed recovery");
      });
    }
  });
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
  const report = { restored, relaunch, interrupted, terminated, unrecovered };
  const counts = { restored, relaunch: relaunch.length, interrupted: interrupted.length, terminated: terminated.length, unrecovered: unrecovered.length };
  deps.events.emit("lifecycle.recovered", counts);
  deps.logger.info(counts, "agents recovered");
  return report;
}

async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
