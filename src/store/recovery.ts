/**
 * Store-level recovery at start: work the dead process held is handed back. Tasks this node had Running go
 * back to Pending with their attempt counts (at-least-once; a finished task is never re-run), and bus
 * messages that were in flight become Pending again, so each is delivered and acknowledged exactly once.
 */
import type { Clock } from "../core/clock.js";
import type { EventStream } from "../core/events.js";
import type { Logger } from "../core/logger.js";
import type { StateStore } from "./types.js";

declare module "../core/events.js" {
  interface RuntimeEventMap {
    /** Start-up: tasks and messages interrupted by the last stop were put back in their queues. */
    "store.recovered": { tasks_requeued: number; messages_requeued: number };
  }
}

export interface StoreRecovery {
  readonly tasks_requeued: number;
  readonly messages_requeued: number;
}

export async function recoverStoredWork(store: StateStore, nodeId: string, clock: Clock, events: EventStream, logger: Logger): Promise<StoreRecovery> {
  const tasks = await store.tasks.requeueRunning(nodeId, clock.now());
  const messages_requeued = await store.messages.requeueInFlight();
  const result = { tasks_requeued: tasks.length, messages_requeued };
  events.emit("store.recovered", result);
  if (tasks.length || messages_requeued) logger.info({ ...result, node_id: nodeId }, "interrupted work re-queued");
  return result;
}
