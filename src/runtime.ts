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
import { SystemClock, type Clock } from "./core/clock.js";
import { resolveConfig, type RuntimeConfig, type RuntimeConfigInput } from "./core/config/index.js";
import { RuntimeEvents, type EventStream } from "./core/events.js";
import { createLogger, type Logger } from "./core/logger.js";
import { VERSION } from "./core/version.js";
import { mkdirSync } from "node:fs";
import { StoreError } from "./core/errors.js";
import { DefaultLifecycleController, type LifecycleController, type RecoveryReport } from "./lifecycle/index.js";
import { openStateStore, recoverStoredWork, type StateStore, type StoreRecovery } from "./store/index.js";

export interface Runtime {
  readonly config: RuntimeConfig;
  readonly version: string;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly events: EventStream;
  readonly store: StateStore;
  readonly lifecycle: LifecycleController;
  /** What start-up recovery brought back (agents to relaunch, re-queued tasks and messages). */
  readonly recovery: RuntimeRecovery;
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
}

export interface RuntimeRecovery extends StoreRecovery {
  readonly agents: RecoveryReport;
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
  let lifecycle: DefaultLifecycleController;
  let recovery: RuntimeRecovery;
  try {
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

    const durable = config.store.kind !== "memory";
    const ctl = new DefaultLifecycleController({ config: config.lifecycle, clock, events, logger, store: store.agents });
    lifecycle = ctl;
    closers.push({ name: "lifecycle", close: () => (durable ? ctl.close() : ctl.shutdown()) });

    // Components that add lifecycle hooks are constructed above this line, so recovery runs with them.
    const agents = await lifecycle.recover();
    recovery = { agents, ...(await recoverStoredWork(store, config.store.node_id, clock, events, logger)) };
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
    lifecycle,
    recovery,
    startedAt,
    isReady: () => ready,
    shutdown: () => (shutdownPromise ??= shutdown()),
  };
}
