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
import { BuiltinAuthorizer, type Authorizer } from "./core/authorizer.js";
import { SystemClock, type Clock } from "./core/clock.js";
import { resolveConfig, type RuntimeConfig, type RuntimeConfigInput } from "./core/config/index.js";
import { RuntimeEvents, type EventStream } from "./core/events.js";
import { createLogger, type Logger } from "./core/logger.js";
import { VERSION } from "./core/version.js";
import { ConfigurationError } from "./core/errors.js";
import type { AgentId } from "./core/ids.js";
import { DefaultLifecycleController, type LifecycleController } from "./lifecycle/index.js";
import {
  createPolicyEngine,
  MemoryPolicyStore,
  openPostgresPolicyStore,
  openSqlitePolicyStore,
  type PolicyEngine,
  type PolicyStore,
} from "./policy/index.js";

export interface Runtime {
  readonly config: RuntimeConfig;
  readonly version: string;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly events: EventStream;
  readonly policy: PolicyEngine;
  /** What every enforcement point asks: the policy engine, or the built-in default when policy is disabled. */
  readonly authorizer: Authorizer;
  readonly lifecycle: LifecycleController;
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

  // The engine looks agents up through the lifecycle controller, which is built after it.
  const late: { lifecycle?: LifecycleController } = {};
  const policy = await createPolicyEngine({
    config: config.policy,
    clock,
    events,
    logger,
    store: await openPolicyStore(config),
    agents: {
      getAgentConfig: async (id: AgentId) => late.lifecycle?.getAgent(id).then((a) => a.config, () => undefined),
    },
  });
  closers.push({ name: "policy", close: () => policy.close() });
  const authorizer: Authorizer = config.policy.enabled ? policy : new BuiltinAuthorizer();

  const lifecycle = new DefaultLifecycleController({
    config: config.lifecycle,
    clock,
    events,
    logger,
    authorizer,
    ...(config.policy.enabled ? { configValidator: policy } : {}),
  });
  late.lifecycle = lifecycle;
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
    policy,
    authorizer,
    lifecycle,
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
