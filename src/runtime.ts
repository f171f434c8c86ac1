/**
 * The composition root: builds every component from one config, hands each its collaborators, and tears
 * them down in reverse order. Nothing else in the codebase constructs components or holds globals.
 *
 * The state store opens first (a corrupt or unreadable store stops start-up with a StoreError naming it)
 * and closes last. Once every component is wired, recovery brings back agents, re-queues interrupted tasks
 * and in-flight messages. A graceful `shutdown()` on a durable store keeps agents persisted (their
 * processes stop with their components) so the next start resumes them; on the `memory` store it runs the
 * spec's lifecycle shutdown, which terminates every agent.
 *
 * @example
 * const runtime = await createRuntime({ config: { lifecycle: { max_agents: 100 } } });
 * const agent = await runtime.lifecycle.createAgent(parseAgentConfig({ name: "demo" }));
 * await runtime.shutdown();
 */
import { join } from "node:path";
import { BuiltinAuthorizer, type Authorizer } from "./core/authorizer.js";
import { createCommunicationBus, type BusRestoreReport, type CommunicationBus } from "./bus/index.js";
import { SystemClock, type Clock } from "./core/clock.js";
import { resolveConfig, type RuntimeConfig, type RuntimeConfigInput } from "./core/config/index.js";
import { RuntimeEvents, type EventStream } from "./core/events.js";
import { createLogger, type Logger } from "./core/logger.js";
import { busForDsl, createDslService, DslWorkerPool, lifecycleSpawner, type DslService } from "./dsl/index.js";
import { VERSION } from "./core/version.js";
import { createAuditTrail, type AuditTrail } from "./audit/index.js";
import { mkdirSync } from "node:fs";
import { ConfigurationError, isRuntimeError, StoreError } from "./core/errors.js";
import type { AgentId } from "./core/ids.js";
import { DefaultLifecycleController, INITIALIZED_STATES, type LifecycleController, type RecoveryReport } from "./lifecycle/index.js";
import { DefaultAgentExecutor, type AgentExecutor, type AgentMessaging } from "./agents/index.js";
import { DefaultErrorHandler, type ErrorHandler } from "./errors/index.js";
import { createResourceManager, type ResourceManager } from "./resources/index.js";
import { createSandboxOrchestrator, type DefaultSandboxOrchestrator } from "./sandbox/index.js";
import { AgentSchedules, DefaultScheduler, ScheduleJobs, StoreTaskJournal, type Scheduler } from "./scheduler/index.js";
import { schedulerDelegator } from "./agents/dsl-delegator.js";
import {
  createPolicyEngine,
  MemoryPolicyStore,
  openPostgresPolicyStore,
  openSqlitePolicyStore,
  type PolicyEngine,
  type PolicyStore,
} from "./policy/index.js";
import { openStateStore, recoverStoredWork, type StateStore, type StoreRecovery } from "./store/index.js";
import { InProcessTaskRunner, SchedulerTaskRunner, WorkflowRegistry, WorkflowService, type TaskRunner } from "./workflows/index.js";

export interface Runtime {
  readonly config: RuntimeConfig;
  readonly version: string;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly events: EventStream;
  readonly store: StateStore;
  readonly policy: PolicyEngine;
  /** What every enforcement point asks: the policy engine, or the built-in default when policy is disabled. */
  readonly authorizer: Authorizer;
  readonly lifecycle: LifecycleController;
  /** The sandbox orchestrator (Tier0 bubblewrap+cgroups, Tier1 Docker, Tier2 gVisor, Tier3 microVM). */
  readonly sandboxes: DefaultSandboxOrchestrator;
  /** Task queue, dispatch, timeouts, retries (`scheduleTask`, `cancelTask`, ...). */
  readonly scheduler: Scheduler;
  /** Runs tasks: in-process handlers (`registerHandler`) and sandboxed agent programs; routes messages. */
  readonly executor: AgentExecutor;
  /** Classifies failures and carries out the recovery action. */
  readonly errorHandler: ErrorHandler;
  /** Fires the tasks of Scheduled agents (interval or cron). */
  readonly schedules: AgentSchedules;
  /** Named cron jobs managed at run time (`/schedules`), persisted in the state store. */
  readonly scheduleJobs: ScheduleJobs;
  /** What start-up recovery brought back (agents to relaunch, re-queued tasks and messages). */
  readonly recovery: RuntimeRecovery;
  /** The agent DSL: compile `.symbi` sources, run agent bodies under limits and policy. */
  readonly dsl: DslService;
  /** Workflow registry and executions; steps run through the configured TaskRunner. */
  readonly workflows: WorkflowService;
  /** The tamper-evident audit trail (records every runtime event); undefined when `audit.enabled` is false. */
  readonly audit: AuditTrail | undefined;
  /** Signed and encrypted messaging between agents (transport from `config.communication.transport`). */
  readonly bus: CommunicationBus;
  /** Admission control, measured usage and enforcement of every agent's resource limits. */
  readonly resources: ResourceManager;
  /** Epoch ms when the runtime finished starting. */
  readonly startedAt: number;
  /** True between a completed start and the beginning of shutdown. */
  isReady(): boolean;
  /** Tears every component down in reverse construction order. Idempotent. */
  shutdown(): Promise<void>;
}

export interface CreateRuntimeOptions {
  /** A validated config (from `loadConfig`) or an input to validate with defaults and no environment. */
  readonly config?: RuntimeConfig | RuntimeConfigInput;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /**
   * Runs workflow steps. Defaults to an `InProcessTaskRunner` (a function registered per agent with
   * `register(agentId, fn)`).
   */
  readonly taskRunner?: TaskRunner;
  /** Decides every enforcement point; defaults to the policy engine (or the built-in one when policy is off). */
  readonly authorizer?: Authorizer;
  /** The executor's view of the message bus (send, subscribe, push delivery). */
  readonly messaging?: AgentMessaging;
}

export interface RuntimeRecovery extends StoreRecovery {
  readonly agents: RecoveryReport;
  /** Bus agents (with their stored keys) and dead letters brought back; their stored messages are queued. */
  readonly bus: BusRestoreReport;
  /** Stored pending tasks put back in the scheduler's queue (re-queued interrupted ones included). */
  readonly tasks_restored: number;
  /** Resource allocations booked again from the store. */
  readonly allocations_restored: number;
}

interface Closer {
  readonly name: string;
  close(): Promise<void>;
}

export async function createRuntime(options: CreateRuntimeOptions = {}): Promise<Runtime> {
  // loadConfig/resolveConfig hand out frozen configs; anything else is an input still to validate.
  const config =
    options.config !== undefined && Object.isFrozen(options.config)
      ? (options.config as RuntimeConfig)
      : resolveConfig(options.config);
  const clock = options.clock ?? new SystemClock();
  const logger = options.logger ?? createLogger({ level: config.log_level });
  const events = new RuntimeEvents(clock, logger);
  const closers: Closer[] = [];
  const closeAll = async (): Promise<unknown[]> => {
    const errors: unknown[] = [];
    for (const c of [...closers].reverse()) {
      try {
        await c.close();
      } catch (err) {
        errors.push(err);
        logger.error({ err, component: c.name }, "component failed to shut down cleanly");
      }
    }
    return errors;
  };

  let store: StateStore;
  let audit: AuditTrail | undefined;
  let policy: PolicyEngine;
  let authorizer: Authorizer;
  let lifecycle: DefaultLifecycleController;
  let dsl: DslService;
  let sandboxes: DefaultSandboxOrchestrator;
  let bus: CommunicationBus;
  let resources: ResourceManager;
  let scheduler: DefaultScheduler;
  let executor: DefaultAgentExecutor;
  let errorHandler: DefaultErrorHandler;
  let schedules: AgentSchedules;
  let scheduleJobs: ScheduleJobs;
  let recovery: RuntimeRecovery;
  let workflows: WorkflowService;
  try {
    // Read before anything starts, so a bad workflow file fails start-up with nothing to tear down.
    const workflowRegistry = await WorkflowRegistry.open(config.workflows.dir ?? join(config.data_dir, "workflows"));

    if (config.store.kind !== "memory") {
      try {
        mkdirSync(config.data_dir, { recursive: true });
      } catch (err) {
        throw new StoreError("STORE_UNAVAILABLE", `Cannot create the data directory ${config.data_dir}: ${(err as Error).message}`, {
          details: { data_dir: config.data_dir },
          cause: err,
        });
      }
    }
    store = await openStateStore({ config: config.store, dataDir: config.data_dir });
    const opened = store;
    closers.push({ name: "store", close: () => opened.close() });

    // Built before the components whose events it records, closed after them (flushing what they emit last).
    const trail = config.audit.enabled ? await createAuditTrail({ config, clock, logger, events }) : undefined;
    audit = trail;
    if (trail) closers.push({ name: "audit", close: () => trail.close() });

    // The engine looks agents up through the lifecycle controller, which is built after it.
    const late: { lifecycle?: LifecycleController } = {};
    const engine = await createPolicyEngine({
      config: config.policy,
      clock,
      events,
      logger,
      store: await openPolicyStore(config),
      agents: {
        getAgentConfig: async (id: AgentId) => late.lifecycle?.getAgent(id).then((a) => a.config, () => undefined),
      },
    });
    policy = engine;
    closers.push({ name: "policy", close: () => engine.close() });
    authorizer = options.authorizer ?? (config.policy.enabled ? policy : new BuiltinAuthorizer());

    const orchestrator = await createSandboxOrchestrator({
      config: config.sandbox,
      dataDir: config.data_dir,
      clock,
      logger,
      events,
      authorizer,
    });
    sandboxes = orchestrator;
    closers.push({ name: "sandboxes", close: () => orchestrator.shutdown() });

    // Measures and limits agents through the orchestrator; the error handler attaches itself when built.
    const manager = await createResourceManager({
      config: config.resources,
      dataDir: config.data_dir,
      clock,
      logger,
      events,
      authorizer,
      sandboxes: orchestrator,
      store: store.allocations,
    });
    resources = manager;
    closers.push({ name: "resources", close: () => manager.shutdown() });

    const messages = await createCommunicationBus({
      config: config.communication,
      authorizer,
      clock,
      events,
      logger,
      ...(config.store.kind !== "memory" ? { durable: { store, dataDir: config.data_dir } } : {}),
    });
    bus = messages;
    closers.push({ name: "bus", close: () => messages.shutdown() });

    // Closed after the scheduler, which cancels the runs in progress first.
    const interpreters = new DslWorkerPool({ maxWorkers: config.dsl.max_workers });
    closers.push({ name: "dsl-workers", close: () => interpreters.close() });

    const durable = config.store.kind !== "memory";
    const ctl = new DefaultLifecycleController({
      config: config.lifecycle,
      clock,
      events,
      logger,
      store: store.agents,
      authorizer,
      ...(config.policy.enabled ? { configValidator: policy } : {}),
    });
    lifecycle = ctl;
    late.lifecycle = ctl;

    // Every initialized agent has a bus identity (keys, queue); registration is idempotent across restarts.
    ctl.addHooks({
      name: "bus",
      onInitialize: (agent) => messages.registerAgent(agent.id, agent.config.capabilities),
      onRecover: async (agent) => {
        if (INITIALIZED_STATES.has(agent.state)) await messages.registerAgent(agent.id, agent.config.capabilities);
      },
      onTerminate: (agent) => messages.unregisterAgent(agent.id).catch(ignoreNotRegistered),
    });

    // Error handler, executor and scheduler refer to each other: built in this order, then attached.
    const handler = new DefaultErrorHandler({ config: config.error_handler, clock, events, logger, lifecycle: ctl });
    errorHandler = handler;
    closers.push({ name: "error-handler", close: () => handler.shutdown() });
    const exec = new DefaultAgentExecutor({
      config: config.scheduler,
      clock,
      events,
      logger,
      lifecycle: ctl,
      sandbox: orchestrator,
      messaging: options.messaging ?? busMessaging(messages),
    });
    executor = exec;
    ctl.addHooks(exec);
    closers.push({ name: "executor", close: () => exec.close() });
    const journal = durable ? { journal: new StoreTaskJournal(store.tasks, config.store.node_id, clock) } : {};
    const sched = new DefaultScheduler({ config: config.scheduler, clock, events, logger, runner: exec, failures: handler, usage: exec, ...journal });
    scheduler = sched;
    closers.push({ name: "scheduler", close: () => sched.shutdown() });
    handler.attach({ tasks: sched, sandboxes: exec });
    manager.attachErrorReporter(handler);
    exec.attach({ tasks: sched, errors: handler });
    const cron = new AgentSchedules({ config: config.scheduler, clock, events, logger, tasks: sched });
    schedules = cron;
    ctl.addHooks(cron);
    // Last, so an agent's allocation is released once its sandbox is gone.
    ctl.addHooks({ name: "resources", onTerminate: (agent) => manager.onTerminate(agent) });
    closers.push({ name: "schedules", close: async () => cron.close() });

    dsl = createDslService({
      config: config.dsl,
      logger,
      events,
      clock,
      authorizer,
      orchestrator,
      scheduler: schedulerDelegator(ctl, sched),
      lifecycle: lifecycleSpawner(ctl),
      bus: busForDsl(messages, ctl),
      pool: interpreters,
    });
    exec.attach({ bodies: dsl.bodies });
    closers.push({ name: "lifecycle", close: () => (durable ? ctl.close() : ctl.shutdown()) });

    const wf = new WorkflowService({
      config: config.workflows,
      registry: workflowRegistry,
      runner: options.taskRunner ?? new InProcessTaskRunner(ctl, new SchedulerTaskRunner(sched)),
      agents: ctl,
      clock,
      events,
      logger: logger.child({ component: "workflows" }),
    });
    workflows = wf;
    closers.push({ name: "workflows", close: () => wf.shutdown() });

    // Components that add lifecycle hooks are constructed above this line, so recovery runs with them.
    // Booked before agents come back, so a sandbox a relaunch creates gets its allocation's limits.
    const allocations_restored = await manager.restore();
    const agents = await lifecycle.recover();
    const stored = await recoverStoredWork(store, config.store.node_id, clock, events, logger);
    // After the store re-queued in-flight messages: stored bus agents and their undelivered messages come back;
    // after it re-queued interrupted tasks: the scheduler takes back every pending one.
    recovery = { agents, allocations_restored, ...stored, bus: await messages.restore(), tasks_restored: await sched.restore() };
    // Opened after recovery so that a job whose fire time passed while down finds its agent back.
    const jobs = await ScheduleJobs.open({ config: config.scheduler, clock, events, logger, tasks: sched, store: store.schedules, agents: ctl, policies: engine });
    scheduleJobs = jobs;
    closers.push({ name: "schedule-jobs", close: () => jobs.close() });
  } catch (err) {
    await closeAll();
    throw err;
  }

  let ready = true;
  let shutdownPromise: Promise<void> | undefined;
  const startedAt = clock.now();
  events.emit("runtime.started", { version: VERSION });

  async function shutdown(): Promise<void> {
    ready = false;
    events.emit("runtime.stopping", {});
    const errors = await closeAll();
    if (errors.length) throw errors[0];
  }

  return {
    config,
    version: VERSION,
    clock,
    logger,
    events,
    store,
    policy,
    authorizer,
    lifecycle,
    sandboxes,
    scheduler,
    executor,
    errorHandler,
    schedules,
    scheduleJobs,
    recovery,
    dsl,
    workflows,
    audit,
    bus,
    resources,
    startedAt,
    isReady: () => ready,
    shutdown: () => (shutdownPromise ??= shutdown()),
  };
}

/** The policy store `config.policy.store` (or, by default, `config.store.kind`) names. */
async function openPolicyStore(config: RuntimeConfig): Promise<PolicyStore> {
  const kind = config.policy.store ?? config.store.kind;
  if (kind === "memory") return new MemoryPolicyStore();
  if (kind === "sqlite") return openSqlitePolicyStore(join(config.data_dir, "policies.db"));
  const url = config.store.postgres_url;
  if (!url) throw new ConfigurationError("runtime configuration", [{ path: "store.postgres_url", message: "required for the postgres policy store" }]);
  return openPostgresPolicyStore({ url, schema: config.policy.postgres_schema });
}

function ignoreNotRegistered(err: unknown): void {
  if (isRuntimeError(err) && err.code === "AGENT_NOT_REGISTERED") return;
  throw err;
}

/**
 * The executor's view of the bus. Messages are pushed to the executor only for agents that consume them there
 * (a program entrypoint, or EventDriven mode); other agents keep their queue for `receiveMessages` to drain.
 */
function busMessaging(bus: CommunicationBus): AgentMessaging {
  return {
    send: (m) => bus.sendMessage(m),
    subscribe: (id, topic) => bus.subscribeToTopic(id, topic),
    listen(agent, deliver) {
      const consumes = agent.config.entrypoint !== undefined || agent.config.execution_mode.type === "EventDriven";
      return consumes ? bus.onMessage(agent.id, (sm) => deliver(sm.message)) : () => undefined;
    },
  };
}
