/**
 * Runs one workflow execution: steps start as soon as all their dependencies succeeded; a step that fails
 * after its retries (or times out on its last attempt) fails the execution, aborts the steps still running
 * and leaves the rest skipped. Timeouts and backoff use the injected clock.
 */
import type { Clock } from "../core/clock.js";
import { ApiError, RuntimeError, toRuntimeError } from "../core/errors.js";
import type { AgentId } from "../core/ids.js";
import type { Logger } from "../core/logger.js";
import type { WorkflowPlan } from "./dag.js";
import { render } from "./template.js";
import type { StepError, StepRecord, TaskRunner } from "./types.js";

export interface RunContext {
  readonly execution_id: string;
  readonly plan: WorkflowPlan;
  readonly parameters: unknown;
  readonly agents: ReadonlyMap<string, AgentId>;
  readonly steps: Map<string, StepRecord>;
  readonly signal: AbortSignal;
  readonly clock: Clock;
  readonly runner: TaskRunner;
  readonly logger: Logger;
  readonly defaultTimeout: number;
  readonly onStep?: (record: StepRecord) => void;
}

export type RunOutcome = { ok: true; output: unknown } | { ok: false; error: StepError & { step_id?: string } };

function asStepError(err: unknown): StepError {
  const e = toRuntimeError(err);
  // Internal errors keep their message out of API answers; the log has the cause.
  return { code: e.code, message: e.code === "INTERNAL_ERROR" ? "The task failed with an internal error" : e.message };
}

/** Runs `fn` until it settles, `ms` pass, or `outer` aborts; the attempt's own signal aborts in the latter cases. */
async function withTimeout<T>(clock: Clock, ms: number, outer: AbortSignal, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const onAbort = (): void => ac.abort(outer.reason);
  outer.addEventListener("abort", onAbort, { once: true });
  let timer: ReturnType<Clock["setTimeout"]> | undefined;
  try {
    return await new Promise<T>((resolve, reject) => {
      timer = clock.setTimeout(() => {
        const err = new ApiError("WORKFLOW_STEP_TIMEOUT", `Step exceeded its timeout of ${ms} ms`, { details: { timeout_ms: ms } });
        ac.abort(err);
        reject(err);
      }, ms);
      ac.signal.addEventListener("abort", () => reject(ac.signal.reason), { once: true });
      fn(ac.signal).then(resolve, reject);
    });
  } finally {
    clock.clearTimeout(timer);
    outer.removeEventListener("abort", onAbort);
  }
}

async function runStep(ctx: RunContext, stepId: string): Promise<void> {
  const step = ctx.plan.definition.steps.find((s) => s.id === stepId);
  const rec = ctx.steps.get(stepId);
  if (!step || !rec) throw new ApiError("WORKFLOW_INVALID", `Unknown step ${stepId}`);
  const scope = {
    parameters: ctx.parameters,
    steps: Object.fromEntries([...ctx.steps.values()].filter((s) => s.status === "succeeded").map((s) => [s.step_id, { output: s.output }])),
  };
  const input = step.input === undefined ? {} : render(step.input, scope, `steps.${stepId}.input`);
  const timeout = step.timeout ?? ctx.defaultTimeout;
  rec.status = "running";
  rec.started_at = ctx.clock.now();
  ctx.onStep?.(rec);
  for (let attempt = 1; ; attempt++) {
    rec.attempts = attempt;
    const started = ctx.clock.monotonic();
    try {
      rec.output = await withTimeout(ctx.clock, timeout, ctx.signal, (signal) =>
        ctx.runner.run({
          agent_id: rec.agent_id,
          input,
          timeout_ms: timeout,
          signal,
          origin: { workflow_id: ctx.plan.definition.id, execution_id: ctx.execution_id, step_id: stepId, attempt },
        }),
      );
      rec.status = "succeeded";
      ctx.logger.debug({ execution_id: ctx.execution_id, step_id: stepId, attempt, span_ms: ctx.clock.monotonic() - started }, "workflow step succeeded");
      break;
    } catch (err) {
      if (ctx.signal.aborted || attempt > step.retries) throw err;
      const wait = step.retry_backoff * 2 ** (attempt - 1);
      ctx.logger.info({ execution_id: ctx.execution_id, step_id: stepId, attempt, err: asStepError(err), retry_in_ms: wait }, "workflow step failed; retrying");
      await new Promise<void>((resolve) => {
        const h = ctx.clock.setTimeout(resolve, wait);
        ctx.signal.addEventListener("abort", () => (ctx.clock.clearTimeout(h), resolve()), { once: true });
      });
      if (ctx.signal.aborted) throw ctx.signal.reason;
    }
  }
  rec.finished_at = ctx.clock.now();
  ctx.onStep?.(rec);
}

/** Drives the DAG to completion; never throws (failures come back as `{ok: false}`). */
export async function runPlan(ctx: RunContext, abort: AbortController): Promise<RunOutcome> {
  const { deps, definition } = ctx.plan;
  const running = new Map<string, Promise<void>>();
  let failure: (StepError & { step_id?: string }) | undefined;

  const ready = (): string[] =>
    [...ctx.steps.values()]
      .filter((s) => s.status === "pending" && [...(deps.get(s.step_id) ?? [])].every((d) => ctx.steps.get(d)?.status === "succeeded"))
      .map((s) => s.step_id);

  const start = (id: string): void => {
    const p = runStep(ctx, id)
      .catch((err: unknown) => {
        const rec = ctx.steps.get(id) as StepRecord;
        rec.status = "failed";
        rec.finished_at = ctx.clock.now();
        rec.error = asStepError(err);
        if (!(err instanceof RuntimeError)) ctx.logger.error({ err, execution_id: ctx.execution_id, step_id: id }, "workflow step threw");
        ctx.onStep?.(rec);
        if (!failure) {
          failure = { ...rec.error, step_id: id };
          abort.abort(new ApiError("WORKFLOW_CANCELLED", `Cancelled because step "${id}" failed`));
        }
      })
      .finally(() => running.delete(id));
    running.set(id, p);
  };

  for (const id of ready()) start(id);
  while (running.size) {
    await Promise.race(running.values());
    if (!failure && !ctx.signal.aborted) for (const id of ready()) if (!running.has(id)) start(id);
  }
  for (const rec of ctx.steps.values()) if (rec.status === "pending") rec.status = "skipped";
  if (!failure && ctx.signal.aborted) {
    const reason = toRuntimeError(ctx.signal.reason);
    failure = { code: reason.code, message: reason.message };
  }
  if (failure) return { ok: false, error: failure };
  const outputs = Object.fromEntries([...ctx.steps.values()].map((s) => [s.step_id, { output: s.output }]));
  try {
    if (definition.output !== undefined) return { ok: true, output: render(definition.output, { parameters: ctx.parameters, steps: outputs }, "output") };
  } catch (err) {
    return { ok: false, error: asStepError(err) };
  }
  const sinks = ctx.plan.sinks;
  if (sinks.length === 1) return { ok: true, output: ctx.steps.get(sinks[0] as string)?.output ?? null };
  return { ok: true, output: Object.fromEntries(sinks.map((id) => [id, ctx.steps.get(id)?.output ?? null])) };
}
