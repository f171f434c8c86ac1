/**
 * The errors a task can end with, and their TaskStatus form.
 */
import { SchedulerError, type RuntimeError } from "../core/errors.js";
import type { ScheduledTask, TaskError } from "./types.js";

/** A RuntimeError as a task status carries it. */
export function taskError(err: RuntimeError): TaskError {
  return err.details ? { code: err.code, message: err.message, details: err.details } : { code: err.code, message: err.message };
}

export function taskTimedOut(task: ScheduledTask): SchedulerError {
  return new SchedulerError("TASK_TIMEOUT", `Task ${task.id} exceeded its timeout of ${task.timeout} ms`, {
    details: { task_id: task.id, agent_id: task.agent_id, timeout: task.timeout },
  });
}

export function taskCancelled(task: ScheduledTask, reason: string): SchedulerError {
  return new SchedulerError("TASK_CANCELLED", `Task ${task.id} was cancelled: ${reason}`, {
    details: { task_id: task.id, agent_id: task.agent_id, reason },
  });
}
