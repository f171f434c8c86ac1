/**
 * The composition root: builds every component from one config, hands each its collaborators, and tears
 * them down in reverse order. Nothing else in the codebase constructs components or holds globals.
 *
 * @example
 * const runtime = await createRuntime({ config: { lifecycle: { max_agents: 100 } } });
 * const agent = await runtime.lifecycle.createAgent(parseAgentConfig({ name: "demo" }));
 * await runtime.shutdown();
 */
import { BuiltinAuthorizer, type Authorizer } from "./core/authorizer.js";
import { SystemClock, type Clock } from "./core/clock.js";
import { resolveConfig, type RuntimeConfig, type RuntimeConfigInput } from "./core/config/index.js";
import { RuntimeEvents, type EventStream } from "./core/events.js";
import { createLogger, type Logger } from "./core/logger.js";
import { VERSION } from "./core/version.js";
import { DefaultLifecycleController, type LifecycleController } from "./lifecycle/index.js";
import { createSandboxOrchestrator, type DefaultSandboxOrchestrator } from "./sandbox/index.js";

export interface Runtime {
  readonly config: RuntimeConfig;
  readonly version: string;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly events: EventStream;
  readonly lifecycle: LifecycleController;
  /** The sandbox orchestrator (Tier0 bubblewrap+cgroups, Tier1 Docker, Tier2 gVisor, Tier3 microVM). */
  readonly sandboxes: DefaultSandboxOrchestrator;
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
  /** Decides every enforcement point; defaults to the built-in one (network and mounts denied). */
  readonly authorizer?: Authorizer;
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
  const authorizer = options.authorizer ?? new BuiltinAuthorizer();

  const sandboxes = await createSandboxOrchestrator({
    config: config.sandbox,
    dataDir: config.data_dir,
    clock,
    logger,
    events,
    authorizer,
  });
  closers.push({ name: "sandboxes", close: () => sandboxes.shutdown() });

  const lifecycle = new DefaultLifecycleController({ config: config.lifecycle, clock, events, logger });
  closers.push({ name: "lifecycle", close: () => lifecycle.shutdown() });

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
    sandboxes,
    startedAt,
    isReady: () => ready,
    shutdown: () => (shutdownPromise ??= shutdown()),
  };
}
