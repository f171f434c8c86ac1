/**
 * The composition root: builds every component from one config, hands each its collaborators, and tears
 * them down in reverse order. Nothing else in the codebase constructs components or holds globals.
 *
 * @example
 * const runtime = await createRuntime({ config: { lifecycle: { max_agents: 100 } } });
 * const agent = await runtime.lifecycle.createAgent(parseAgentConfig({ name: "demo" }));
 * await runtime.shutdown();
 */
import { join } from "node:path";
import { SystemClock, type Clock } from "./core/clock.js";
import { resolveConfig, type RuntimeConfig, type RuntimeConfigInput } from "./core/config/index.js";
import { RuntimeEvents, type EventStream } from "./core/events.js";
import { createLogger, type Logger } from "./core/logger.js";
import { VERSION } from "./core/version.js";
import { DefaultLifecycleController, type LifecycleController } from "./lifecycle/index.js";
import { InProcessTaskRunner, WorkflowRegistry, WorkflowService, type TaskRunner } from "./workflows/index.js";

export interface Runtime {
  readonly config: RuntimeConfig;
  readonly version: string;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly events: EventStream;
  readonly lifecycle: LifecycleController;
  /** Workflow registry and executions; steps run through the configured TaskRunner. */
  readonly workflows: WorkflowService;
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
   * Runs workflow steps. Defaults to an `InProcessTaskRunner` (handlers registered per agent through
   * `runtime.workflows.runner`).
   */
  readonly taskRunner?: TaskRunner;
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
  // Read before anything starts, so a bad workflow file fails start-up with nothing to tear down.
  const workflowRegistry = await WorkflowRegistry.open(config.workflows.dir ?? join(config.data_dir, "workflows"));

  const lifecycle = new DefaultLifecycleController({ config: config.lifecycle, clock, events, logger });
  closers.push({ name: "lifecycle", close: () => lifecycle.shutdown() });

  const workflows = new WorkflowService({
    config: config.workflows,
    registry: workflowRegistry,
    runner: options.taskRunner ?? new InProcessTaskRunner(lifecycle),
    agents: lifecycle,
    clock,
    events,
    logger: logger.child({ component: "workflows" }),
  });
  closers.push({ name: "workflows", close: () => workflows.shutdown() });

  let ready = true;
  let shutdownPromise: Promise<void> | undefined;
  const startedAt = clock.now();
  events.emit("runtime.started", { version: VERSION });

  async function shutdown(): Promise<void> {
    ready = false;
    events.emit("runtime.stopping", {});
    const errors: unknown[] = [];
    for (const c of [...closers].reverse()) {
      try {
        await c.close();
      } catch (err) {
        errors.push(err);
        logger.error({ err, component: c.name }, "component failed to shut down cleanly");
      }
    }
    if (errors.length) throw errors[0];
  }

  return {
    config,
    version: VERSION,
    clock,
    logger,
    events,
    lifecycle,
    workflows,
    startedAt,
    isReady: () => ready,
    shutdown: () => (shutdownPromise ??= shutdown()),
  };
}
