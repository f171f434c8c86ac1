/**
 * DefaultLifecycleController: owns every agent's state. All changes to one agent run one at a time (a
 * per-agent queue), so concurrent calls never lose a transition; each applied transition emits
 * `agent.state_changed`. With a store, every change (creation, each transition, counters, config, removal)
 * is committed before the method that made it resolves, and `recover()` brings the agents back at start.
 */
import { authorize, type Authorizer } from "../core/authorizer.js";
import type { Clock, TimerHandle } from "../core/clock.js";
import type { LifecycleConfig } from "../core/config/index.js";
import { LifecycleError, PolicyError, RuntimeError } from "../core/errors.js";
import type { EventStream } from "../core/events.js";
import type { AgentId } from "../core/ids.js";
import type { Logger } from "../core/logger.js";
import { parseAgentConfig } from "../core/schemas.js";
import { AGENT_STATES, type AgentConfig, type AgentInstance, type AgentState } from "../core/types.js";
import { canTransition, RESTARTABLE_STATES } from "./state-machine.js";
import type { AgentRepository } from "../store/types.js";
import { recoverAgents, RESTORE_CONCURRENCY } from "./recovery.js";
import type { AgentConfigValidator, LifecycleController, LifecycleHooks, RecoveryReport, SystemStatus } from "./types.js";

interface AgentRecord {
  readonly id: AgentId;
  config: AgentConfig;
  state: AgentState;
  readonly created_at: number;
  last_updated: number;
  execution_count: number;
  error_count: number;
  restart_count: number;
  /** When the agent last entered Failed (monotonic ms), for recovery backoff. */
  failed_at: number;
  /** An automatic restart is queued or running. */
  recovering: boolean;
  /** Store writes issued by the operation in progress; it resolves only once they committed. */
  writes: Promise<void>[];
}

export interface LifecycleControllerDeps {
  readonly config: LifecycleConfig;
  readonly clock: Clock;
  readonly events: EventStream;
  readonly logger: Logger;
  readonly hooks?: readonly LifecycleHooks[];
  /** Where agents are persisted; without one they live only in memory. */
  readonly store?: AgentRepository;
  /** Asked before `agent.create` and `agent.update` take effect. */
  readonly authorizer?: Authorizer;
  /** Checks every config against policy before it is applied (every violation is reported). */
  readonly configValidator?: AgentConfigValidator;
}

type HookPhase = "onInitialize" | "onTerminate";

export class DefaultLifecycleController implements LifecycleController {
  readonly #config: LifecycleConfig;
  readonly #clock: Clock;
  readonly #events: EventStream;
  readonly #logger: Logger;
  readonly #hooks: LifecycleHooks[];
  readonly #store: AgentRepository | undefined;
  readonly #authorizer: Authorizer | undefined;
  readonly #validator: AgentConfigValidator | undefined;
  readonly #agents = new Map<AgentId, AgentRecord>();
  readonly #queues = new Map<AgentId, Promise<void>>();
  readonly #startedAt: number;
  readonly #startedMono: number;
  #checkTimer: TimerHandle | undefined;
  #closing = false;
  #closed = false;
  #totals = { created: 0, terminated: 0, restarts: 0, errors: 0, executions: 0 };

  constructor(deps: LifecycleControllerDeps) {
    this.#config = deps.config;
    this.#clock = deps.clock;
    this.#events = deps.events;
    this.#logger = deps.logger.child({ component: "lifecycle" });
    this.#hooks = [...(deps.hooks ?? [])];
    this.#store = deps.store;
    this.#authorizer = deps.authorizer;
    this.#validator = deps.configValidator;
    this.#startedAt = this.#clock.now();
    this.#startedMono = this.#clock.monotonic();
    if (this.#config.enable_auto_recovery) this.#scheduleStateCheck();
  }

  addHooks(hooks: LifecycleHooks): void {
    this.#hooks.push(hooks);
  }

  async createAgent(config: AgentConfig): Promise<AgentInstance> {
    this.#assertOpen();
    const valid = parseAgentConfig(config);
    // Policy first: its awaits must not sit between the checks below and the insert.
    await this.#admit("agent.create", valid);
    this.#assertOpen();
    if (this.#agents.has(valid.id)) {
      throw new LifecycleError("AGENT_ALREADY_EXISTS", `Agent ${valid.id} already exists`, {
        details: { agent_id: valid.id },
      });
    }
    if (this.#agents.size >= this.#config.max_agents) {
      throw new LifecycleError("MAX_AGENTS_REACHED", `Cannot create agent: max_agents (${this.#config.max_agents}) reached`, {
        details: { max_agents: this.#config.max_agents },
      });
    }
    const now = this.#clock.now();
    const record: AgentRecord = {
      id: valid.id,
      config: valid,
      state: "Created",
      created_at: now,
      last_updated: now,
      execution_count: 0,
      error_count: 0,
      restart_count: 0,
      failed_at: 0,
      recovering: false,
      writes: [],
    };
    this.#agents.set(record.id, record);
    if (this.#store) {
      try {
        await this.#store.put(snapshot(record));
      } catch (err) {
        this.#agents.delete(record.id);
        throw err;
      }
    }
    this.#totals.created++;
    this.#events.emit("agent.created", { agent_id: record.id, name: valid.name });
    return snapshot(record);
  }

  initializeAgent(agentId: AgentId): Promise<void> {
    return this.#serial(agentId, (rec) => this.#initialize(rec));
  }

  startAgent(agentId: AgentId): Promise<void> {
    return this.#serial(agentId, async (rec) => this.#apply(rec, "Running"));
  }

  stopAgent(agentId: AgentId): Promise<void> {
    return this.#serial(agentId, async (rec) => this.#apply(rec, "Completed", "stopped"));
  }

  suspendAgent(agentId: AgentId): Promise<void> {
    return this.#serial(agentId, async (rec) => this.#apply(rec, "Suspended"));
  }

  resumeAgent(agentId: AgentId): Promise<void> {
    return this.#serial(agentId, async (rec) => {
      if (rec.state !== "Suspended") throw LifecycleError.invalidStateTransition(rec.state, "Running", rec.id);
      this.#apply(rec, "Running", "resumed");
    });
  }

  transition(agentId: AgentId, to: AgentState, reason?: string): Promise<void> {
    return this.#serial(agentId, async (rec) => {
      if (to === "Initializing" || to === "Terminating" || to === "Terminated") {
        // These edges run hooks; they go through initializeAgent / terminateAgent / restartAgent.
        throw LifecycleError.invalidStateTransition(rec.state, to, rec.id);
      }
      this.#apply(rec, to, reason);
    });
  }

  terminateAgent(agentId: AgentId): Promise<void> {
    return this.#serial(agentId, (rec) => this.#terminate(rec));
  }

  restartAgent(agentId: AgentId): Promise<void> {
    return this.#serial(agentId, (rec) => this.#restart(rec));
  }

  async getAgentState(agentId: AgentId): Promise<AgentState> {
    return this.#get(agentId).state;
  }

  async getAgent(agentId: AgentId): Promise<AgentInstance> {
    return snapshot(this.#get(agentId));
  }

  async listAgents(): Promise<AgentInstance[]> {
    return [...this.#agents.values()].map(snapshot);
  }

  updateAgentConfig(agentId: AgentId, config: AgentConfig): Promise<void> {
    return this.#serial(agentId, async (rec) => {
      if (rec.state === "Terminating" || rec.state === "Terminated") {
        throw LifecycleError.configurationInvalid(`agent ${rec.id} is ${rec.state}`, { agent_id: rec.id });
      }
      if (config.id !== undefined && config.id !== rec.id) {
        throw LifecycleError.configurationInvalid(`config id ${config.id} does not match agent ${rec.id}`, {
          agent_id: rec.id,
        });
      }
      const next = parseAgentConfig({ ...config, id: rec.id });
      await this.#admit("agent.update", next, rec.config);
      rec.config = next;
      rec.last_updated = this.#clock.now();
      this.#save(rec);
      this.#events.emit("agent.updated", { agent_id: rec.id });
    });
  }

  async getSystemStatus(): Promise<SystemStatus> {
    const byState = Object.fromEntries(AGENT_STATES.map((s) => [s, 0])) as Record<AgentState, number>;
    for (const rec of this.#agents.values()) byState[rec.state]++;
    return {
      agents_by_state: byState,
      total_agents: this.#agents.size,
      total_created: this.#totals.created,
      total_terminated: this.#totals.terminated,
      total_restarts: this.#totals.restarts,
      total_errors: this.#totals.errors,
      total_executions: this.#totals.executions,
      uptime: this.#clock.monotonic() - this.#startedMono,
      started_at: this.#startedAt,
      shut_down: this.#closed,
    };
  }

  async shutdown(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#clock.clearTimeout(this.#checkTimer);
    const failures: unknown[] = [];
    await Promise.all(
      [...this.#agents.keys()].map((id) =>
        this.#serial(id, async (rec) => {
          if (rec.state === "Created") return this.#remove(rec);
          if (rec.state === "Initializing" || rec.state === "Terminating") return;
          await this.#terminate(rec);
        }, true).catch((err: unknown) => {
          failures.push(err);
        }),
      ),
    );
    this.#closed = true;
    if (failures.length) {
      this.#logger.warn({ failures: failures.length }, "some agents failed to terminate during shutdown");
      throw new LifecycleError("TERMINATION_FAILED", `${failures.length} agent(s) failed to terminate during shutdown`, {
        details: { failures: failures.map((f) => (f instanceof Error ? f.message : String(f))) },
      });
    }
  }

  /**
   * A graceful stop that keeps agents: refuses new calls, lets queued operations finish (and commit), stops
   * the state check. Termination hooks do not run and nothing is removed, so a restart on the same store
   * brings every agent back. `shutdown()` is the spec's stop, which terminates every agent.
   */
  async close(): Promise<void> {
    this.#closing = true;
    this.#clock.clearTimeout(this.#checkTimer);
    while (this.#queues.size) await Promise.all([...this.#queues.values()]);
    this.#closed = true;
  }

  async recover(): Promise<RecoveryReport> {
    if (!this.#store) return { restored: 0, relaunch: [], interrupted: [], terminated: [], unrecovered: [] };
    this.#assertOpen();
    const rows = await this.#store.list();
    // One deadline for the whole phase instead of a timer per agent (a restart may bring back 100,000): each
    // lane of RESTORE_CONCURRENCY agents gets initialization_timeout per agent it works through.
    const budget = this.#config.initialization_timeout * Math.max(1, Math.ceil(rows.length / RESTORE_CONCURRENCY));
    const deadline = new AbortController();
    const expired = new Promise<never>((_, reject) => deadline.signal.addEventListener("abort", () => reject(deadline.signal.reason as Error), { once: true }));
    expired.catch(noop);
    const timer = this.#clock.setTimeout(() => deadline.abort(new Error(`recovery exceeded ${budget} ms`)), budget);
    const hooks = this.#hooks.filter((h) => h.onRecover);
    const restore = async (id: AgentId): Promise<void> => {
      if (hooks.length === 0) return;
      const agent = snapshot(this.#get(id));
      const run = async (): Promise<void> => {
        for (const h of hooks) await h.onRecover!(agent, deadline.signal);
      };
      await Promise.race([run(), expired]);
    };
    try {
      return await recoverAgents({
        rows,
        adopt: (row) => {
        if (this.#agents.has(row.id)) return false;
        this.#agents.set(row.id, { ...row, failed_at: this.#clock.monotonic(), recovering: false, writes: [] });
        return true;
      },
        markInterrupted: (id, reason) => this.#serial(id, async (rec) => this.#set(rec, "Failed", reason)),
        terminate: (id) => this.terminateAgent(id),
        restore,
        events: this.#events,
        logger: this.#logger,
      });
    } finally {
      this.#clock.clearTimeout(timer);
    }
  }

  // ---- internals ----

  /** Throws POLICY_DENIED (after `policy.denied`) when policy refuses the config; nothing has changed yet. */
  async #admit(action: "agent.create" | "agent.update", config: AgentConfig, previous?: AgentConfig): Promise<void> {
    if (this.#validator) {
      const { valid, violations } = await this.#validator.validateAgentConfig(config);
      if (!valid) {
        const reason = violations.map((v) => `${v.field}: ${v.message}`).join("; ");
        const policy_id = violations.find((v) => v.policy_id !== undefined)?.policy_id;
        this.#events.emit("policy.denied", { agent_id: config.id, action, resource: config.name, ...(policy_id ? { policy_id } : {}), reason });
        throw new PolicyError("POLICY_DENIED", `${action} denied: ${reason}`, {
          details: { action, agent_id: config.id, ...(policy_id ? { policy_id } : {}), reason, violations },
        });
      }
    }
    if (this.#authorizer) {
      await authorize(this.#authorizer, this.#events, {
        agent_id: config.id,
        action,
        resource: config.name,
        context: previous ? { config, previous_tier: previous.security_tier } : { config },
      });
    }
  }

  #assertOpen(): void {
    if (this.#closing) {
      throw new LifecycleError("RUNTIME_SHUT_DOWN", "The lifecycle controller has been shut down");
    }
  }

  #get(agentId: AgentId): AgentRecord {
    const rec = this.#agents.get(agentId);
    if (!rec) throw LifecycleError.agentNotFound(agentId);
    return rec;
  }

  /**
   * Runs `fn` after every earlier operation on the same agent has settled. The record is looked up when the
   * operation's turn comes, so an operation queued behind a terminate sees AGENT_NOT_FOUND.
   */
  #serial(agentId: AgentId, fn: (rec: AgentRecord) => Promise<void> | void, duringShutdown = false): Promise<void> {
    if (!duringShutdown) {
      try {
        this.#assertOpen();
      } catch (err) {
        return Promise.reject(err);
      }
    }
    const prev = this.#queues.get(agentId);
    const op = async () => this.#committed(this.#get(agentId), fn);
    const run = prev ? prev.then(op) : op();
    const settled = run.then(noop, noop);
    this.#queues.set(agentId, settled);
    void settled.then(() => {
      if (this.#queues.get(agentId) === settled) this.#queues.delete(agentId);
    });
    return run;
  }

  /** Runs `fn` on `rec`, then waits for the store writes it issued; a failed write fails the operation. */
  async #committed(rec: AgentRecord, fn: (rec: AgentRecord) => Promise<void> | void): Promise<void> {
    let failure: { err: unknown } | undefined;
    try {
      await fn(rec);
    } catch (err) {
      failure = { err };
    }
    if (rec.writes.length) {
      const settled = await Promise.allSettled(rec.writes.splice(0));
      const bad = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (bad && !failure) failure = { err: bad.reason };
    }
    if (failure) throw failure.err;
  }

  /** Issues the write of the record as it is now; the running operation awaits it (see #committed). */
  #save(rec: AgentRecord): void {
    if (this.#store) rec.writes.push(this.#store.put(snapshot(rec)));
  }

  /** Applies one edge of the table, or throws INVALID_STATE_TRANSITION leaving the state as it was. */
  #apply(rec: AgentRecord, to: AgentState, reason?: string): void {
    if (!canTransition(rec.state, to)) throw LifecycleError.invalidStateTransition(rec.state, to, rec.id);
    this.#set(rec, to, reason);
  }

  /** Records a state change and emits it. Callers have checked that the edge is allowed. */
  #set(rec: AgentRecord, to: AgentState, reason?: string): void {
    const from = rec.state;
    rec.state = to;
    rec.last_updated = this.#clock.now();
    if (to === "Running") {
      rec.execution_count++;
      this.#totals.executions++;
    } else if (to === "Failed") {
      rec.error_count++;
      this.#totals.errors++;
      rec.failed_at = this.#clock.monotonic();
    }
    this.#save(rec);
    this.#events.emit("agent.state_changed", reason === undefined ? { agent_id: rec.id, from, to } : { agent_id: rec.id, from, to, reason });
    if (to === "Failed") this.#announceRecovery(rec);
  }

  async #initialize(rec: AgentRecord): Promise<void> {
    this.#apply(rec, "Initializing");
    await this.#runInitHooks(rec);
  }

  async #runInitHooks(rec: AgentRecord): Promise<void> {
    try {
      await this.#runHooks(rec, "onInitialize", this.#config.initialization_timeout);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      this.#set(rec, "Failed", `initialization failed: ${reason}`);
      throw LifecycleError.initializationFailed(rec.id, reason, err);
    }
    this.#set(rec, "Ready");
  }

  async #terminate(rec: AgentRecord): Promise<void> {
    this.#apply(rec, "Terminating");
    try {
      await this.#runHooks(rec, "onTerminate", this.#config.termination_timeout);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      // The agent cannot be declared gone while its resources may still exist: it is parked in Failed
      // (the failure edge out of Terminating) so an operator can see it and terminate again.
      this.#set(rec, "Failed", `termination failed: ${reason}`);
      throw LifecycleError.terminationFailed(rec.id, reason, err);
    }
    this.#set(rec, "Terminated");
    this.#remove(rec);
    this.#totals.terminated++;
  }

  #remove(rec: AgentRecord): void {
    this.#agents.delete(rec.id);
    if (this.#store) rec.writes.push(this.#store.remove(rec.id));
    this.#events.emit("agent.removed", { agent_id: rec.id });
  }

  async #restart(rec: AgentRecord): Promise<void> {
    if (!RESTARTABLE_STATES.includes(rec.state)) {
      throw LifecycleError.invalidStateTransition(rec.state, "Initializing", rec.id);
    }
    if (rec.restart_count >= this.#config.max_restart_attempts) {
      throw new LifecycleError(
        "MAX_RESTARTS_EXCEEDED",
        `Agent ${rec.id} has been restarted ${rec.restart_count} times (max_restart_attempts ${this.#config.max_restart_attempts})`,
        { details: { agent_id: rec.id, restart_count: rec.restart_count, max_restart_attempts: this.#config.max_restart_attempts } },
      );
    }
    rec.restart_count++;
    this.#totals.restarts++;
    this.#set(rec, "Initializing", "restart");
    await this.#runInitHooks(rec);
    this.#apply(rec, "Running", "restart");
  }

  async #runHooks(rec: AgentRecord, phase: HookPhase, timeoutMs: number): Promise<void> {
    const hooks = this.#hooks.filter((h) => h[phase]);
    if (hooks.length === 0) return;
    const controller = new AbortController();
    let timer: TimerHandle | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = this.#clock.setTimeout(() => {
        const err = new Error(`${phase === "onInitialize" ? "initialization" : "termination"} exceeded ${timeoutMs} ms`);
        controller.abort(err);
        reject(err);
      }, timeoutMs);
    });
    try {
      await Promise.race([
        (async () => {
          const agent = snapshot(rec);
          for (const h of hooks) await h[phase]!(agent, controller.signal);
        })(),
        timeout,
      ]);
    } finally {
      this.#clock.clearTimeout(timer);
    }
  }

  // ---- automatic recovery ----

  #backoffFor(rec: AgentRecord): number {
    return Math.min(this.#config.restart_backoff * 2 ** rec.restart_count, this.#config.restart_backoff_max);
  }

  #announceRecovery(rec: AgentRecord): void {
    if (!this.#config.enable_auto_recovery || this.#closing) return;
    if (rec.restart_count >= this.#config.max_restart_attempts) return;
    this.#events.emit("agent.restart_scheduled", {
      agent_id: rec.id,
      attempt: rec.restart_count + 1,
      delay_ms: this.#backoffFor(rec),
    });
  }

  #scheduleStateCheck(): void {
    this.#checkTimer = this.#clock.setTimeout(() => {
      this.#stateCheck();
      if (!this.#closing) this.#scheduleStateCheck();
    }, this.#config.state_check_interval);
  }

  /** Every state_check_interval: restart Failed agents whose backoff has elapsed, up to the limit. */
  #stateCheck(): void {
    const now = this.#clock.monotonic();
    for (const rec of this.#agents.values()) {
      if (rec.state !== "Failed" || rec.recovering) continue;
      if (rec.restart_count >= this.#config.max_restart_attempts) continue;
      if (now - rec.failed_at < this.#backoffFor(rec)) continue;
      rec.recovering = true;
      this.#serial(rec.id, (r) => (r.state === "Failed" ? this.#restart(r) : undefined))
        .catch((err: unknown) => {
          const level = err instanceof RuntimeError && err.code === "RUNTIME_SHUT_DOWN" ? "debug" : "warn";
          this.#logger[level]({ agent_id: rec.id, err }, "automatic restart failed");
        })
        .finally(() => {
          rec.recovering = false;
        });
    }
  }
}

function noop(): void {}

function snapshot(rec: AgentRecord): AgentInstance {
  return {
    id: rec.id,
    config: rec.config,
    state: rec.state,
    created_at: rec.created_at,
    last_updated: rec.last_updated,
    execution_count: rec.execution_count,
    error_count: rec.error_count,
    restart_count: rec.restart_count,
  };
}
