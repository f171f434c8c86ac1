/**
 * Runs one agent body off the main event loop: a worker thread with a heap cap (`resourceLimits`), a step
 * budget and call-depth limit inside, and a wall-clock timeout outside that terminates the thread — so an
 * endless loop costs one thread for at most `timeoutMs`, never the runtime's responsiveness. Host calls
 * from the worker are served here through the given `DslHost`.
 *
 * @example
 * const file = compileDsl(source);
 * const host = createDslHost({ logger, events, clock, authorizer });
 * const { value } = await runDslAgent({ file, agent: "validator", input: { records }, host, limits });
 */
import { createHash } from "node:crypto";
import { existsSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { MessageChannel, Worker } from "node:worker_threads";
import { SystemClock, type Clock } from "../core/clock.js";
import { DslError, PolicyError, type RuntimeError } from "../core/errors.js";
import type { SandboxId } from "../core/ids.js";
import type { AgentConfig } from "../core/types.js";
import type { DslAgent, DslFile } from "./extract.js";
import type { DslHost, DslLogLevel, DslRunContext } from "./host.js";
import type { HostOp } from "./interpreter.js";
import type { HostReply, WorkerInput, WorkerReply } from "./worker.js";

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

let devWorker: Promise<URL> | undefined;

/**
 * The worker's entry file. Built output has `worker.js` beside this file. Run from TypeScript sources (tests,
 * tsx), the worker is bundled once with esbuild (a dev dependency through tsx) into a content-addressed file
 * in the temp dir: loading TypeScript inside each worker through a loader costs seconds per run.
 */
async function workerUrl(): Promise<URL> {
  const js = new URL("./worker.js", import.meta.url);
  if (existsSync(fileURLToPath(js))) return js;
  devWorker ??= (async () => {
    const esbuild = await import("esbuild");
    const out = await esbuild.build({
      entryPoints: [fileURLToPath(new URL("./worker.ts", import.meta.url))],
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      write: false,
      logLevel: "silent",
    });
    const code = (out.outputFiles[0] as { text: string }).text;
    const file = join(tmpdir(), `symbiont-dsl-worker-${createHash("sha256").update(code).digest("hex").slice(0, 16)}.mjs`);
    if (!existsSync(file)) {
      writeFileSync(`${file}.${process.pid}`, code);
      renameSync(`${file}.${process.pid}`, file);
    }
    return pathToFileURL(file);
  })();
  return devWorker;
}

function workerFor(url: URL, data: WorkerInput, maxMemoryMb: number): Worker {
  const resourceLimits = { maxOldGenerationSizeMb: maxMemoryMb, maxYoungGenerationSizeMb: Math.min(32, Math.max(4, maxMemoryMb / 8)), stackSizeMb: 4 };
  return new Worker(url, { workerData: data, transferList: [data.port], resourceLimits });
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

/** Runs the agent's `with` body once with `input` bound to its parameters; resolves to the body's value. */
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
  const lock = new SharedArrayBuffer(4);
  const flag = new Int32Array(lock);
  const channel = new MessageChannel();
  const url = await workerUrl();
  const started = clock.monotonic();
  const worker = workerFor(
    url,
    { source: agent.config.dsl_source, agent: agent.name, input: options.input ?? {}, maxSteps: limits.maxSteps, maxDepth: limits.maxDepth, lock, port: channel.port2 },
    limits.maxMemoryMb,
  );

  return new Promise<DslRunResult>((resolve, reject) => {
    let settled = false;
    const finish = (err: RuntimeError | undefined, result?: DslRunResult): void => {
      if (settled) return;
      settled = true;
      clock.clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      channel.port1.close();
      void worker.terminate();
      if (err) reject(err);
      else resolve(result as DslRunResult);
    };
    const limit = (message: string): DslError =>
      new DslError("DSL_LIMIT_EXCEEDED", `agent '${agent.name}' stopped: ${message}`, { details: { agent: agent.name } });
    const timer = clock.setTimeout(() => finish(limit(`timed out after ${limits.timeoutMs} ms`)), limits.timeoutMs);
    const onAbort = (): void => finish(new DslError("DSL_RUNTIME_ERROR", `agent '${agent.name}' run was cancelled`));
    options.signal?.addEventListener("abort", onAbort, { once: true });

    channel.port1.on("message", (req: { op: HostOp; args: Record<string, unknown> }) => {
      void serve(options.host, ctx, req.op, req.args).then(
        (value) => reply({ ok: true, value: value ?? null }),
        (e: unknown) => {
          const code = (e as RuntimeError).code as string | undefined;
          reply({ ok: false, message: e instanceof Error ? e.message : String(e), kind: hostErrorKind(code), ...(code ? { code } : {}) });
        },
      );
    });
    const reply = (r: HostReply): void => {
      if (settled) return;
      try {
        channel.port1.postMessage(r);
      } catch (e) {
        channel.port1.postMessage({ ok: false, message: `host answer could not be passed to the agent: ${(e as Error).message}`, kind: "HostError" });
      }
      Atomics.store(flag, 0, 1);
      Atomics.notify(flag, 0);
    };

    worker.on("message", (r: WorkerReply) => {
      const duration_ms = clock.monotonic() - started;
      if (r.ok) return finish(undefined, { value: r.value, steps: r.steps, duration_ms });
      if (r.kind === "limit") return finish(limit(r.message));
      if (r.kind === "input") return finish(new DslError("DSL_RUNTIME_ERROR", `agent '${agent.name}': ${r.message}`, { details: { agent: agent.name } }));
      const details = { agent: agent.name, steps: r.steps, ...(r.code ? { code: r.code } : {}) };
      if (r.code === "POLICY_DENIED") return finish(new PolicyError("POLICY_DENIED", `agent '${agent.name}': ${r.message}`, { details }));
      return finish(new DslError("DSL_RUNTIME_ERROR", `agent '${agent.name}' failed at ${r.message}`, { details }));
    });
    worker.on("error", (e: Error & { code?: string }) => {
      if (e.code === "ERR_WORKER_OUT_OF_MEMORY") return finish(limit(`memory bound of ${limits.maxMemoryMb} MB exceeded`));
      finish(new DslError("DSL_RUNTIME_ERROR", `agent '${agent.name}' interpreter failed: ${e.message}`, { cause: e }));
    });
    worker.on("exit", (code) => finish(new DslError("DSL_RUNTIME_ERROR", `agent '${agent.name}' interpreter exited (code ${code}) without a result`)));
  });
}
