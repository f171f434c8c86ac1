/**
 * The errors a task can end with, and their TaskStatus form; and the errors of the scheduler's task operations.
 */
import { SchedulerError, type RuntimeError } from "../core/errors.js";
import type { TaskId } from "../core/ids.js";
import type { ScheduledTask, TaskError, TaskState } from "./types.js";

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

export function notFound(taskId: TaskId): SchedulerError {
  return new SchedulerError("TASK_NOT_FOUND", `Task ${String(taskId)} not found`, { details: { task_id: taskId } });
}

export function alreadyExists(taskId: TaskId): SchedulerError {
  return new SchedulerError("TASK_ALREADY_EXISTS", `Task ${taskId} already exists`, { details: { task_id: taskId } });
}

export function alreadyFinished(taskId: TaskId, state: TaskState): SchedulerError {
  return new SchedulerError("TASK_ALREADY_FINISHED", `Task ${taskId} already finished (${state})`, {
    details: { task_id: taskId, state },
  });
}

export function queueFull(taskQueueSize: number, pending: number): SchedulerError {
  return new SchedulerError("QUEUE_FULL", `The task queue is full (task_queue_size ${taskQueueSize})`, {
    details: { task_queue_size: taskQueueSize, pending },
  });
}
