/**
 * The DSL as one runtime component: the tool registry and LLM provider built from `config.dsl`, the host
 * over the runtime's collaborators, and `run` with the configured limits. Built by `createRuntime`.
 *
 * @example
 * const file = runtime.dsl.compile(source, "validator.symbi");
 * const { value } = await runtime.dsl.run(file, { agent: "validator", input: { records } });
 */
import type { Authorizer } from "../core/authorizer.js";
import type { Clock } from "../core/clock.js";
import type { DslConfig } from "../core/config/index.js";
import type { EventStream } from "../core/events.js";
import type { SandboxId } from "../core/ids.js";
import type { Logger } from "../core/logger.js";
import type { SandboxOrchestrator } from "../sandbox/types.js";
import type { AgentBodies } from "../agents/types.js";
import { compileDsl, DSL_AGENT_KEY, type DslFile } from "./extract.js";
import { createDslHost, type DslBus, type DslDelegator, type DslHost, type DslSpawner } from "./host.js";
import { createLlmProvider, type LlmProvider } from "./llm.js";
import { findAgent, limitsFor, runDslAgent, type DslRunResult } from "./runner.js";
import { SandboxToolRegistry, type ToolRegistry } from "./tools.js";
import { DslWorkerPool } from "./worker-pool.js";

export interface DslService {
  readonly host: DslHost;
  readonly tools: ToolRegistry;
  readonly llm: LlmProvider | undefined;
  /** Parses and extracts; throws DSL_PARSE_ERROR / DSL_EXTRACTION_ERROR listing every problem. */
  compile(source: string, file?: string): DslFile;
  /** Runs the bodies of DSL-defined agents for the executor (compiled sources are cached). */
  readonly bodies: AgentBodies;
  /** Runs one agent's body once under the configured limits and the agent's own timeout and memory. */
  run(file: DslFile, options?: { agent?: string; input?: unknown; sandbox_id?: SandboxId; signal?: AbortSignal }): Promise<DslRunResult>;
  /** Stops the interpreter threads it owns (runs in progress fail). */
  close(): Promise<void>;
}

export interface DslServiceDeps {
  readonly config: DslConfig;
  readonly logger: Logger;
  readonly events: EventStream;
  readonly clock: Clock;
  readonly authorizer: Authorizer;
  readonly orchestrator?: SandboxOrchestrator;
  readonly bus?: DslBus;
  readonly scheduler?: DslDelegator;
  readonly lifecycle?: DslSpawner;
  readonly secrets?: (path: string) => Promise<string>;
  /** Interpreter threads; without one the service keeps its own (`dsl.max_workers`), closed by `close()`. */
  readonly pool?: DslWorkerPool;
}

export function createDslService(deps: DslServiceDeps): DslService {
  const tools = new SandboxToolRegistry(deps.config.tools, deps.orchestrator);
  const llm = createLlmProvider(deps.config.llm);
  const host = createDslHost({
    logger: deps.logger,
    events: deps.events,
    clock: deps.clock,
    authorizer: deps.authorizer,
    tools,
    ...(llm ? { llm } : {}),
    ...(deps.bus ? { bus: deps.bus } : {}),
    ...(deps.scheduler ? { scheduler: deps.scheduler } : {}),
    ...(deps.lifecycle ? { lifecycle: deps.lifecycle } : {}),
    ...(deps.secrets ? { secrets: deps.secrets } : {}),
  });
  const pool = deps.pool ?? new DslWorkerPool({ maxWorkers: deps.config.max_workers });
  // Agents share a handful of sources; compiling once per source keeps a task's start cheap.
  const compiled = new Map<string, DslFile>();
  const compiledSource = (source: string): DslFile => {
    let file = compiled.get(source);
    if (!file) {
      file = compileDsl(source, "dsl_source");
      if (compiled.size >= 256) compiled.delete(compiled.keys().next().value as string);
      compiled.set(source, file);
    }
    return file;
  };
  return {
    host,
    tools,
    llm,
    compile: (source, file) => compileDsl(source, file),
    bodies: {
      has: (config) => config.dsl_source.trim() !== "",
      async run(config, input, options) {
        const file = compiledSource(config.dsl_source);
        const agent = findAgent(file, file.agents.length === 1 ? undefined : (config.metadata[DSL_AGENT_KEY] ?? config.name));
        const limits = limitsFor({ ...agent, config, timeoutMs: config.resource_limits.execution_timeout }, deps.config);
        const result = await runDslAgent({ file, agent: agent.name, input, host, limits, clock: deps.clock, instance: config, signal: options.signal, sandbox: options.sandbox, pool });
        return result.value;
      },
    },
    run(file, options = {}) {
      const agent = findAgent(file, options.agent);
      return runDslAgent({
        file,
        agent: agent.name,
        input: options.input,
        host,
        limits: limitsFor(agent, deps.config),
        clock: deps.clock,
        pool,
        ...(options.sandbox_id ? { sandbox_id: options.sandbox_id } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    },
    close: async () => {
      if (!deps.pool) await pool.close();
    },
  };
}
