/**
 * Runs one agent body off the main event loop: on a pooled worker thread with a heap cap (`resourceLimits`),
 * a step budget and call-depth limit inside, and a wall-clock timeout outside that terminates the thread —
 * so an endless loop costs one thread for at most `timeoutMs`, never the runtime's responsiveness. Host
 * calls from the worker are served here through the given `DslHost`.
 *
 * @example
 * const file = compileDsl(source);
 * const host = createDslHost({ logger, events, clock, authorizer });
 * const { value } = await runDslAgent({ file, agent: "validator", input: { records }, host, limits });
 */
import { SystemClock, type Clock } from "../core/clock.js";
import { DslError, PolicyError, type RuntimeError } from "../core/errors.js";
import type { SandboxId } from "../core/ids.js";
import type { AgentConfig } from "../core/types.js";
import type { DslAgent, DslFile } from "./extract.js";
import type { DslHost, DslLogLevel, DslRunContext } from "./host.js";
import type { HostOp } from "./interpreter.js";
import type { WorkerOutcome } from "./worker.js";
import { DslWorkerPool } from "./worker-pool.js";

export interface DslRunLimits {
  readonly maxSteps: number;
  readonly maxDepth: number;
  /** Heap cap of the worker, MB. */
  readonly maxMemoryMb: number;
  /** Wall-clock cap, ms. */
  readonly timeoutMs: number;
}

export interface DslRunOptions {
  readonly file: DslFile;
  /** Agent name; may be omitted when the file has exactly one agent. */
  readonly agent?: string;
  readonly input?: unknown;
  readonly host: DslHost;
  readonly limits: DslRunLimits;
  readonly sandbox_id?: SandboxId;
  /** Gives the agent's sandbox on the first tool call (when `sandbox_id` is not given). */
  readonly sandbox?: () => Promise<SandboxId>;
  /** The runtime instance running the body (its id is who acts: bus sender, policy subject); default the file's. */
  readonly instance?: AgentConfig;
  readonly clock?: Clock;
  readonly signal?: AbortSignal;
  /** Threads to run on; without one, the run gets a thread of its own. */
  readonly pool?: DslWorkerPool;
}

export interface DslRunResult {
  readonly value: unknown;
  readonly steps: number;
  readonly duration_ms: number;
}

/** Limits for one agent: the config's caps, lowered by the agent's own timeout and memory. */
export function limitsFor(agent: DslAgent, config: { max_steps: number; max_call_depth: number; max_memory_mb: number; max_run_ms: number }): DslRunLimits {
  return {
    maxSteps: config.max_steps,
    maxDepth: config.max_call_depth,
    maxMemoryMb: Math.max(32, Math.min(config.max_memory_mb, agent.config.resource_limits.memory_mb)),
    timeoutMs: Math.min(config.max_run_ms, agent.timeoutMs),
  };
}

export function findAgent(file: DslFile, name: string | undefined): DslAgent {
  if (name === undefined) {
    if (file.agents.length === 1) return file.agents[0] as DslAgent;
    throw new DslError("DSL_AGENT_NOT_FOUND", `the file defines ${file.agents.length} agents (${file.agents.map((a) => a.name).join(", ") || "none"}); name the one to run`);
  }
  const agent = file.agents.find((a) => a.name === name);
  if (!agent) throw new DslError("DSL_AGENT_NOT_FOUND", `no agent named '${name}' (defined: ${file.agents.map((a) => a.name).join(", ") || "none"})`);
  return agent;
}

function hostErrorKind(code: string | undefined): string {
  if (code === "POLICY_DENIED") return "PolicyDenied";
  if (code === "LLM_NOT_CONFIGURED" || code === "LLM_REQUEST_FAILED") return "LlmError";
  if (code === "TOOL_UNAVAILABLE") return "ToolError";
  return "HostError";
}

async function serve(host: DslHost, ctx: DslRunContext, op: HostOp, a: Record<string, unknown>): Promise<unknown> {
  switch (op) {
    case "log":
      host.log(ctx, a.level as DslLogLevel, String(a.message), (a.fields ?? {}) as Record<string, unknown>);
      return null;
    case "now":
      return host.now();
    case "publish":
      return host.publish(ctx, String(a.topic), a.payload);
    case "send":
      return host.send(ctx, String(a.to), a.payload);
    case "delegate":
      return host.delegate(ctx, String(a.agent), a.input);
    case "spawn_agent":
      return host.spawnAgent(ctx, String(a.name), a.config);
    case "tool_call":
      return host.callTool(ctx, String(a.tool), { args: (a.args ?? []) as unknown[], named: (a.named ?? {}) as Record<string, unknown> });
    case "llm":
      return host.llm(ctx, { prompt: a.prompt, options: (a.options ?? {}) as Record<string, unknown> });
    case "secret":
      return host.secret(ctx, String(a.path));
  }
}

/**
 * Runs the agent's `with` body once with `input` bound to its parameters; resolves to the body's value. Runs
 * on a thread of `options.pool`, or of a one-off pool closed afterwards.
 */
export async function runDslAgent(options: DslRunOptions): Promise<DslRunResult> {
  const agent = findAgent(options.file, options.agent);
  if (!agent.body) throw new DslError("DSL_AGENT_NOT_FOUND", `agent '${agent.name}' has no with block to run`);
  const clock = options.clock ?? new SystemClock();
  const { limits } = options;
  const ctx: DslRunContext = {
    agent_id: options.instance?.id ?? agent.config.id,
    agent_name: options.instance?.name ?? agent.name,
    policies: agent.policies,
    ...(options.sandbox_id ? { sandbox_id: options.sandbox_id } : {}),
    ...(options.sandbox ? { sandbox: options.sandbox } : {}),
  };
  const limit = (message: string): DslError =>
    new DslError("DSL_LIMIT_EXCEEDED", `agent '${agent.name}' stopped: ${message}`, { details: { agent: agent.name } });
  const stop = new AbortController();
  // The wall clock runs from the start on a thread; waiting for one is bounded by the caller's signal.
  let timer: ReturnType<Clock["setTimeout"]> | undefined;
  const startClock = (): void => {
    timer = clock.setTimeout(() => stop.abort(limit(`timed out after ${limits.timeoutMs} ms`)), limits.timeoutMs);
  };
  const onAbort = (): void => stop.abort(new DslError("DSL_RUNTIME_ERROR", `agent '${agent.name}' run was cancelled`));
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const pool = options.pool ?? new DslWorkerPool({ maxWorkers: 1 });
  const started = clock.monotonic();
  let r: WorkerOutcome;
  try {
    r = await pool.run(
      { source: agent.config.dsl_source, agent: agent.name, input: options.input ?? {}, maxSteps: limits.maxSteps, maxDepth: limits.maxDepth },
      {
        memoryMb: limits.maxMemoryMb,
        stop: stop.signal,
        onStart: startClock,
        onHost: (req, reply) => {
          void serve(options.host, ctx, req.op, req.args).then(
            (value) => reply({ ok: true, value: value ?? null }),
            (e: unknown) => {
              const code = (e as RuntimeError).code as string | undefined;
              reply({ ok: false, message: e instanceof Error ? e.message : String(e), kind: hostErrorKind(code), ...(code ? { code } : {}) });
            },
          );
        },
      },
    );
  } catch (e) {
    if (e === stop.signal.reason) throw e;
    if ((e as { code?: string }).code === "ERR_WORKER_OUT_OF_MEMORY") throw limit(`memory bound of ${limits.maxMemoryMb} MB exceeded`);
    throw new DslError("DSL_RUNTIME_ERROR", `agent '${agent.name}' interpreter failed: ${(e as Error).message}`, { cause: e });
  } finally {
    clock.clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
    if (!options.pool) await pool.close();
  }
  const duration_ms = clock.monotonic() - started;
  if (r.ok) return { value: r.value, steps: r.steps, duration_ms };
  if (r.kind === "limit") throw limit(r.message);
  if (r.kind === "input") throw new DslError("DSL_RUNTIME_ERROR", `agent '${agent.name}': ${r.message}`, { details: { agent: agent.name } });
  const details = { agent: agent.name, steps: r.steps, ...(r.code ? { code: r.code } : {}) };
  if (r.code === "POLICY_DENIED") throw new PolicyError("POLICY_DENIED", `agent '${agent.name}': ${r.message}`, { details });
  throw new DslError("DSL_RUNTIME_ERROR", `agent '${agent.name}' failed at ${r.message}`, { details });
}
