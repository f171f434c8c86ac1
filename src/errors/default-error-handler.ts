/**
 * DefaultErrorHandler: classifies each error, keeps bounded history and per-agent statistics, runs a
 * circuit breaker per agent, escalates agents that fail too often, picks the action of the error type's
 * strategy — and carries it out: Retry through the scheduler after a backoff, Restart / Suspend / Terminate
 * through the lifecycle controller (Terminate also cancels the agent's queued tasks and destroys its
 * sandbox), Failover by moving the agent's pending tasks to a backup agent.
 */
import type { Clock } from "../core/clock.js";
import type { ErrorHandlerConfig } from "../core/config/error-handler.js";
import { ErrorHandlerError, RuntimeError, ValidationError, toRuntimeError } from "../core/errors.js";
import type { EventStream } from "../core/events.js";
import { AgentId } from "../core/ids.js";
import type { Logger } from "../core/logger.js";
import { capabilityName, type AgentInstance } from "../core/types.js";
import type { FailureOutcome, ScheduledTask, TaskControl } from "../scheduler/types.js";
import { CircuitBreaker } from "./circuit-breaker.js";
import { classifyError, defaultStrategies } from "./classify.js";
import "./events.js";
import { AgentErrors, ErrorLog } from "./history.js";
import {
  ERROR_ACTION_TYPES,
  ERROR_TYPES,
  type AgentSandboxCleanup,
  type CircuitState,
  type ErrorAction,
  type ErrorContext,
  type ErrorHandler,
  type ErrorLifecycle,
  type ErrorRecord,
  type ErrorStatistics,
  type ErrorThresholds,
  type ErrorType,
  type RecoveryStrategy,
  type SystemErrorStatistics,
} from "./types.js";

export interface ErrorHandlerDeps {
  readonly config: ErrorHandlerConfig;
  readonly clock: Clock;
  readonly events: EventStream;
  readonly logger: Logger;
  readonly lifecycle: ErrorLifecycle;
  readonly tasks?: TaskControl;
  readonly sandboxes?: AgentSandboxCleanup;
  /** Source of jitter in [0, 1); Math.random unless a test pins it. */
  readonly random?: () => number;
}

/** What carrying out an action produced for the failed task. */
interface Carried {
  readonly executed: boolean;
  readonly detail?: string;
  readonly outcome: FailureOutcome;
}

export class DefaultErrorHandler implements ErrorHandler {
  readonly #config: ErrorHandlerConfig;
  readonly #clock: Clock;
  readonly #events: EventStream;
  readonly #logger: Logger;
  readonly #lifecycle: ErrorLifecycle;
  #tasks: TaskControl | undefined;
  #sandboxes: AgentSandboxCleanup | undefined;
  readonly #random: () => number;
  readonly #strategies = defaultStrategies();
  readonly #agents = new Map<AgentId, AgentErrors>();
  readonly #log: ErrorLog;
  /** A restart already under way for an agent; concurrent failures join it instead of restarting again. */
  readonly #restarting = new Map<AgentId, Promise<Carried>>();
  #escalations = 0;
  #failedRecoveries = 0;
  #closed = false;

  constructor(deps: ErrorHandlerDeps) {
    this.#config = deps.config;
    this.#clock = deps.clock;
    this.#events = deps.events;
    this.#logger = deps.logger.child({ component: "error-handler" });
    this.#lifecycle = deps.lifecycle;
    this.#tasks = deps.tasks;
    this.#sandboxes = deps.sandboxes;
    this.#random = deps.random ?? Math.random;
    this.#log = new ErrorLog(deps.config.max_error_history);
  }

  attach(collaborators: { tasks?: TaskControl; sandboxes?: AgentSandboxCleanup }): void {
    if (collaborators.tasks) this.#tasks = collaborators.tasks;
    if (collaborators.sandboxes) this.#sandboxes = collaborators.sandboxes;
  }

  // ---- the scheduler's view ----

  assertAccepting(agentId: AgentId): void {
    const a = this.#agents.get(agentId);
    if (a && !a.breaker.accepting(this.#clock.monotonic())) throw this.#circuitOpen(agentId);
  }

  admit(agentId: AgentId): void {
    const a = this.#agents.get(agentId);
    if (!a) return;
    const now = this.#clock.monotonic();
    const before = a.breaker.state(now);
    if (!a.breaker.admit(now)) throw this.#circuitOpen(agentId);
    if (before === "HalfOpen") this.#events.emit("error.circuit_half_opened", { agent_id: agentId });
  }

  recordSuccess(agentId: AgentId): void {
    const a = this.#agents.get(agentId);
    if (!a) return;
    a.recoveries.length = 0;
    if (a.breaker.success(this.#clock.monotonic())) this.#events.emit("error.circuit_closed", { agent_id: agentId });
  }

  async handleTaskFailure(task: ScheduledTask, error: RuntimeError, attempt: number): Promise<FailureOutcome> {
    const { carried } = await this.#handle(task.agent_id, error, { task_id: task.id, attempt });
    return carried.outcome;
  }

  // ---- the spec's methods ----

  async handleError(agentId: AgentId, error: unknown, context: ErrorContext = {}): Promise<ErrorAction> {
    return (await this.#handle(agentId, error, context)).action;
  }

  async registerStrategy(errorType: ErrorType, strategy: RecoveryStrategy): Promise<void> {
    this.#assertOpen();
    if (!ERROR_TYPES.includes(errorType)) {
      throw new ValidationError("error type", [{ path: "error_type", message: `expected one of ${ERROR_TYPES.join(", ")}` }]);
    }
    validateStrategy(strategy);
    this.#strategies.set(errorType, strategy);
  }

  async getErrorStats(agentId: AgentId): Promise<ErrorStatistics> {
    const a = this.#agent(AgentId.parse(agentId));
    const now = this.#clock.monotonic();
    const last = a.history.newest();
    return {
      agent_id: agentId,
      total_errors: a.total,
      recent_errors: a.recentCount(now, this.#config.error_aggregation_window),
      errors_by_type: { ...a.byType },
      actions: { ...a.actions },
      circuit_state: a.breaker.state(now),
      escalations: a.escalations,
      ...(last ? { last_error: last } : {}),
      thresholds: this.#thresholds(a),
    };
  }

  async getSystemErrorStats(): Promise<SystemErrorStatistics> {
    const now = this.#clock.monotonic();
    const byType = zeroes(ERROR_TYPES);
    const actions = zeroes(ERROR_ACTION_TYPES);
    let total = 0;
    let open = 0;
    let withErrors = 0;
    for (const a of this.#agents.values()) {
      total += a.total;
      if (a.total > 0) withErrors++;
      if (a.breaker.state(now) !== "Closed") open++;
      for (const t of ERROR_TYPES) byType[t] += a.byType[t];
      for (const t of ERROR_ACTION_TYPES) actions[t] += a.actions[t];
    }
    return {
      total_errors: total,
      errors_by_type: byType,
      actions,
      agents_with_errors: withErrors,
      open_circuits: open,
      escalations: this.#escalations,
      history_size: this.#log.size,
      failed_recoveries: this.#failedRecoveries,
    };
  }

  async setErrorThresholds(agentId: AgentId, thresholds: ErrorThresholds): Promise<void> {
    const a = this.#agent(AgentId.parse(agentId));
    for (const [k, v] of Object.entries(thresholds)) {
      if (v !== undefined && !(Number.isInteger(v) && v >= 0)) {
        throw new ValidationError("error thresholds", [{ path: k, message: "expected a non-negative integer" }]);
      }
    }
    a.thresholds = { ...a.thresholds, ...thresholds };
  }

  async clearErrorHistory(agentId: AgentId): Promise<void> {
    const id = AgentId.parse(agentId);
    const a = this.#agents.get(id);
    if (!a) return;
    a.clear();
    this.#log.removeAgent(id);
  }

  async getErrorHistory(agentId?: AgentId): Promise<ErrorRecord[]> {
    return agentId === undefined ? this.#log.all() : (this.#agents.get(agentId)?.history.all() ?? []);
  }

  getCircuitState(agentId: AgentId): CircuitState {
    return this.#agents.get(agentId)?.breaker.state(this.#clock.monotonic()) ?? "Closed";
  }

  async shutdown(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled([...this.#restarting.values()]);
  }

  // ---- deciding ----

  #assertOpen(): void {
    if (this.#closed) throw new ErrorHandlerError("ERROR_HANDLER_FAILED", "The error handler has been shut down");
  }

  #agent(agentId: AgentId): AgentErrors {
    let a = this.#agents.get(agentId);
    if (!a) {
      a = new AgentErrors(this.#config.max_error_history, new CircuitBreaker(this.#config.circuit_breaker_timeout));
      this.#agents.set(agentId, a);
    }
    return a;
  }

  #thresholds(a: AgentErrors): Required<ErrorThresholds> {
    return {
      escalation_threshold: a.thresholds.escalation_threshold ?? this.#config.escalation_threshold,
      circuit_breaker_threshold: a.thresholds.circuit_breaker_threshold ?? this.#config.circuit_breaker_threshold,
      max_recovery_attempts: a.thresholds.max_recovery_attempts ?? this.#config.max_recovery_attempts,
    };
  }

  #circuitOpen(agentId: AgentId): ErrorHandlerError {
    return new ErrorHandlerError("CIRCUIT_OPEN", `Agent ${agentId}'s circuit breaker is open after repeated failures`, {
      details: { agent_id: agentId, retry_after_ms: this.#config.circuit_breaker_timeout },
    });
  }

  async #handle(agentId: AgentId, raw: unknown, context: ErrorContext): Promise<{ action: ErrorAction; carried: Carried }> {
    this.#assertOpen();
    const id = AgentId.parse(agentId);
    const error = toRuntimeError(raw);
    const errorType = classifyError(error);
    const a = this.#agent(id);
    const now = this.#clock.monotonic();
    const window = this.#config.error_aggregation_window;
    a.noteFailure(now, window, errorType);
    const recent = a.recentCount(now, window);
    const limits = this.#thresholds(a);

    if (a.breaker.failure(now, recent, limits.circuit_breaker_threshold)) {
      this.#events.emit("error.circuit_opened", { agent_id: id, failures: recent });
    }
    const strategy = this.#strategies.get(errorType) ?? { type: "None" };
    let action: ErrorAction;
    if (recent > limits.escalation_threshold) {
      a.escalations++;
      this.#escalations++;
      this.#events.emit("error.escalated", { agent_id: id, errors: recent, threshold: limits.escalation_threshold });
      action = { type: "Suspend", reason: `${recent} errors within ${window} ms exceed escalation_threshold ${limits.escalation_threshold}` };
    } else {
      action = await this.#decide(id, a, strategy, context, limits.max_recovery_attempts, now);
    }
    const carried = await this.#carryOut(id, action, strategy, error, context);
    a.actions[action.type]++;
    const record: ErrorRecord = {
      agent_id: id,
      at: this.#clock.now(),
      error_type: errorType,
      code: error.code,
      message: error.message,
      ...(context.task_id ? { task_id: context.task_id } : {}),
      action: action.type,
    };
    a.history.push(record);
    this.#log.push(record);
    this.#events.emit("error.handled", {
      agent_id: id,
      error_type: errorType,
      code: error.code,
      action: action.type,
      executed: carried.executed,
      ...(context.task_id ? { task_id: context.task_id } : {}),
      ...(carried.detail ? { detail: carried.detail } : {}),
    });
    return { action, carried };
  }

  async #decide(
    agentId: AgentId,
    a: AgentErrors,
    strategy: RecoveryStrategy,
    context: ErrorContext,
    maxRecoveries: number,
    now: number,
  ): Promise<ErrorAction> {
    switch (strategy.type) {
      case "Retry": {
        const attempt = context.attempt ?? 1;
        if (attempt > strategy.max_attempts) {
          return { type: "None", reason: `retry attempts exhausted (${strategy.max_attempts})` };
        }
        return { type: "Retry", max_attempts: strategy.max_attempts, backoff: this.#backoff(strategy.backoff, attempt) };
      }
      case "Restart":
      case "Failover": {
        const recoveries = a.recentRecoveries(now, this.#config.error_aggregation_window);
        if (recoveries >= maxRecoveries) {
          return { type: "Suspend", reason: `${recoveries} recoveries within the window reached max_recovery_attempts ${maxRecoveries}` };
        }
        a.recoveries.push(now);
        if (strategy.type === "Restart") return { type: "Restart" };
        const backup = strategy.backup_agent ?? (await this.#findBackup(agentId));
        return backup ? { type: "Failover", backup_agent: backup } : { type: "Terminate" };
      }
      case "Terminate":
        return { type: "Terminate" };
      case "Manual":
        return { type: "Suspend", reason: strategy.reason };
      case "None":
        return { type: "None", reason: "strategy is None" };
    }
  }

  /** backoff × multiplier^(attempt-1), moved by up to ±backoff_jitter at random. */
  #backoff(base: number, attempt: number): number {
    const raw = base * this.#config.recovery_backoff_multiplier ** (attempt - 1);
    const jitter = this.#config.backoff_jitter * (this.#random() * 2 - 1);
    return Math.max(0, Math.round(raw * (1 + jitter)));
  }

  /** Another live agent whose capabilities include all of the failed agent's (which must have some). */
  async #findBackup(agentId: AgentId): Promise<AgentId | undefined> {
    let failed: AgentInstance;
    try {
      failed = await this.#lifecycle.getAgent(agentId);
    } catch {
      return undefined;
    }
    const needed = failed.config.capabilities.map(capabilityName);
    if (needed.length === 0) return undefined;
    const usable = new Set(["Ready", "Running", "Completed", "Waiting"]);
    for (const other of await this.#lifecycle.listAgents()) {
      if (other.id === agentId || !usable.has(other.state)) continue;
      const has = new Set(other.config.capabilities.map(capabilityName));
      if (needed.every((c) => has.has(c))) return other.id;
    }
    return undefined;
  }

  // ---- carrying out ----

  async #carryOut(
    agentId: AgentId,
    action: ErrorAction,
    strategy: RecoveryStrategy,
    error: RuntimeError,
    context: ErrorContext,
  ): Promise<Carried> {
    const recovery = action.type === "Retry" || action.type === "Restart" || action.type === "Failover";
    if (recovery && !this.#config.enable_auto_recovery) {
      return { executed: false, detail: "enable_auto_recovery is off", outcome: {} };
    }
    try {
      switch (action.type) {
        case "Retry":
          if (!context.task_id) return { executed: false, detail: "no task to retry", outcome: {} };
          return { executed: true, outcome: { retry_after_ms: action.backoff } };
        case "Restart":
          return await this.#restart(agentId, context, strategy.type === "Restart" && !strategy.preserve_state);
        case "Suspend":
          await this.#suspend(agentId, action.reason);
          return { executed: true, outcome: {} };
        case "Terminate":
          // A Terminate reached by escalation or failed failover cleans up; Terminate{cleanup:false} does not.
          await this.#terminate(agentId, error, strategy.type === "Terminate" ? strategy.cleanup : true);
          return { executed: true, outcome: {} };
        case "Failover": {
          const moved = this.#tasks?.reassignPendingTasks(agentId, action.backup_agent) ?? 0;
          return {
            executed: true,
            detail: `${moved} pending task(s) moved to ${action.backup_agent}`,
            outcome: context.task_id ? { reassign_to: action.backup_agent } : {},
          };
        }
        case "None":
          return { executed: true, detail: action.reason, outcome: {} };
      }
    } catch (err) {
      this.#failedRecoveries++;
      const reason = err instanceof Error ? err.message : String(err);
      this.#logger.warn({ agent_id: agentId, action: action.type, err }, "recovery action failed");
      this.#events.emit("error.recovery_failed", {
        agent_id: agentId,
        action: action.type,
        code: err instanceof RuntimeError ? err.code : "RECOVERY_FAILED",
        reason,
      });
      return { executed: false, detail: reason, outcome: {} };
    }
  }

  #restart(agentId: AgentId, context: ErrorContext, freshSandbox: boolean): Promise<Carried> {
    const running = this.#restarting.get(agentId);
    const restart =
      running ??
      (async (): Promise<Carried> => {
        // Restart{preserve_state: false}: the agent comes back with a fresh sandbox (empty workspace).
        if (freshSandbox) await this.#sandboxes?.destroyAgentSandbox(agentId);
        try {
          await this.#lifecycle.restartAgent(agentId);
        } catch (err) {
          if (err instanceof RuntimeError && err.code === "MAX_RESTARTS_EXCEEDED") {
            // Out of restarts: park it in Failed, visible to operators (auto-recovery skips it too).
            await this.#lifecycle.transition(agentId, "Failed", "max_restart_attempts reached").catch(() => undefined);
          }
          throw err;
        }
        return { executed: true, outcome: {} };
      })().finally(() => this.#restarting.delete(agentId));
    if (!running) this.#restarting.set(agentId, restart);
    // The failed task runs again on the restarted agent.
    return restart.then((c) => (context.task_id ? { ...c, outcome: { retry_after_ms: 0 } } : c));
  }

  async #suspend(agentId: AgentId, reason: string): Promise<void> {
    // The agent may be moving (an ephemeral agent goes Running → Completed as its task ends): re-read and retry.
    for (let attempt = 1; ; attempt++) {
      const agent = await this.#lifecycle.getAgent(agentId);
      if (agent.state === "Suspended") return;
      try {
        // Completed has no edge to Suspended; it passes through Running (no task is dispatched in between:
        // the scheduler holds the agent's tasks while this decision is made).
        if (agent.state === "Completed") await this.#lifecycle.transition(agentId, "Running", `suspending: ${reason}`);
        await this.#lifecycle.suspendAgent(agentId);
        return;
      } catch (err) {
        if (attempt >= 3 || !(err instanceof RuntimeError && err.code === "INVALID_STATE_TRANSITION")) throw err;
      }
    }
  }

  async #terminate(agentId: AgentId, error: RuntimeError, cleanup: boolean): Promise<void> {
    if (cleanup) await this.#tasks?.cancelAgentTasks(agentId, `agent terminated after ${error.code}`);
    await this.#lifecycle.terminateAgent(agentId);
    if (cleanup) await this.#sandboxes?.destroyAgentSandbox(agentId);
  }
}

function zeroes<K extends string>(keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
}

function validateStrategy(s: RecoveryStrategy): void {
  const bad = (path: string, message: string) => new ValidationError("recovery strategy", [{ path, message }]);
  switch (s?.type) {
    case "Retry":
      if (!(Number.isInteger(s.max_attempts) && s.max_attempts >= 0)) throw bad("max_attempts", "expected a non-negative integer");
      if (!(Number.isFinite(s.backoff) && s.backoff >= 0)) throw bad("backoff", "expected ms >= 0");
      return;
    case "Restart":
    case "Terminate":
    case "Manual":
    case "None":
      return;
    case "Failover":
      if (s.backup_agent !== undefined && !AgentId.is(s.backup_agent)) throw bad("backup_agent", "expected a UUID");
      return;
    default:
      throw bad("type", "expected Retry, Restart, Failover, Terminate, Manual or None");
  }
}
