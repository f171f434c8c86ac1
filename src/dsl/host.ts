/**
 * The DSL host: every effect an agent body has goes through here, on the main thread, after the
 * Authorizer (with the agent's own policy blocks in front) has said yes. Bus, scheduler and lifecycle are
 * collaborators handed in by the composition root; a missing one makes the call fail with a clear
 * DSL_RUNTIME_ERROR naming it, never a quiet no-op.
 *
 * Actions checked: `message.publish` (topic), `message.send` (recipient), `task.delegate` (agent name),
 * `agent.spawn` (name), `tool.call` (tool; plus `sandbox.network` for a network tool), `llm.call` (model)
 * with `network.http` (endpoint), `secret.read` (path).
 */
import { authorize, type Authorizer, type AuthorizationRequest } from "../core/authorizer.js";
import type { Clock } from "../core/clock.js";
import { DslError } from "../core/errors.js";
import type { EventStream } from "../core/events.js";
import type { AgentId, SandboxId } from "../core/ids.js";
import type { Logger } from "../core/logger.js";
import type { Policy } from "../core/types.js";
import { llmNotConfigured, type LlmAnswer, type LlmMessage, type LlmProvider } from "./llm.js";
import { withDslPolicies } from "./policy.js";
import type { ToolInput, ToolRegistry, ToolResult } from "./tools.js";

/** Who is running: passed with every host call. */
export interface DslRunContext {
  readonly agent_id: AgentId;
  readonly agent_name: string;
  /** The agent's compiled policy blocks (enforced in front of the runtime's authorizer). */
  readonly policies: readonly Policy[];
  /** The agent's sandbox, where its tools run. */
  readonly sandbox_id?: SandboxId;
  /** Gives the agent's sandbox on first use, when `sandbox_id` is not known up front. */
  readonly sandbox?: () => Promise<SandboxId>;
}

export type DslLogLevel = "trace" | "debug" | "info" | "warn" | "error";

export interface DslLlmRequest {
  /** A string (one user message) or a list of `{role, content}` messages. */
  readonly prompt: unknown;
  /** `model`, `temperature`, `max_tokens`, `system`. */
  readonly options: Readonly<Record<string, unknown>>;
}

/** What an agent body can do to the world. Implemented by `createDslHost`; tests may supply their own. */
export interface DslHost {
  log(ctx: DslRunContext, level: DslLogLevel, message: string, fields: Readonly<Record<string, unknown>>): void;
  now(): number;
  publish(ctx: DslRunContext, topic: string, payload: unknown): Promise<unknown>;
  send(ctx: DslRunContext, to: string, payload: unknown): Promise<unknown>;
  /** Runs a task on another agent and resolves to its result. */
  delegate(ctx: DslRunContext, agent: string, input: unknown): Promise<unknown>;
  spawnAgent(ctx: DslRunContext, name: string, config: unknown): Promise<unknown>;
  callTool(ctx: DslRunContext, tool: string, input: ToolInput): Promise<ToolResult>;
  llm(ctx: DslRunContext, request: DslLlmRequest): Promise<LlmAnswer>;
  secret(ctx: DslRunContext, path: string): Promise<string>;
}

/** The bus as the DSL uses it (the communication component adapts to this). */
export interface DslBus {
  publish(from: AgentId, topic: string, payload: unknown): Promise<unknown>;
  send(from: AgentId, to: string, payload: unknown): Promise<unknown>;
}

/** The scheduler as `delegate` uses it: enqueue a task for the named agent and await its result. */
export interface DslDelegator {
  delegate(from: AgentId, agent: string, input: unknown): Promise<unknown>;
}

/** The lifecycle as `spawn_agent` uses it: create and start an agent, resolve to its id or a description. */
export interface DslSpawner {
  spawn(from: AgentId, name: string, config: unknown): Promise<unknown>;
}

export interface DslHostDeps {
  readonly logger: Logger;
  readonly events: EventStream;
  readonly clock: Clock;
  readonly authorizer: Authorizer;
  readonly tools?: ToolRegistry;
  readonly llm?: LlmProvider;
  readonly bus?: DslBus;
  readonly scheduler?: DslDelegator;
  readonly lifecycle?: DslSpawner;
  /** Resolves `vault://path` references. */
  readonly secrets?: (path: string) => Promise<string>;
}

declare module "../core/events.js" {
  interface RuntimeEventMap {
    "dsl.logged": { agent_id: AgentId; agent_name: string; level: DslLogLevel; message: string };
    "dsl.tool_called": { agent_id: AgentId; agent_name: string; tool: string; status: ToolResult["status"]; exit_code?: number };
    "dsl.llm_called": { agent_id: AgentId; agent_name: string; model: string; total_tokens?: number };
  }
}

function missing(what: string, collaborator: string): DslError {
  return new DslError("DSL_RUNTIME_ERROR", `${what} needs ${collaborator}, and none is wired to the DSL host`, { details: { collaborator } });
}

function llmMessages(request: DslLlmRequest): LlmMessage[] {
  const system = request.options.system;
  const head: LlmMessage[] = typeof system === "string" ? [{ role: "system", content: system }] : [];
  if (typeof request.prompt === "string") return [...head, { role: "user", content: request.prompt }];
  if (Array.isArray(request.prompt)) {
    return [
      ...head,
      ...request.prompt.map((m) => {
        const r = m as { role?: unknown; content?: unknown };
        const role = r.role === "system" || r.role === "assistant" ? r.role : "user";
        return { role, content: typeof r.content === "string" ? r.content : JSON.stringify(r.content ?? m) } as LlmMessage;
      }),
    ];
  }
  throw new DslError("DSL_RUNTIME_ERROR", "an LLM prompt is a string or a list of {role, content} messages");
}

/** The runtime's DSL host over the given collaborators. */
export function createDslHost(deps: DslHostDeps): DslHost {
  const check = async (ctx: DslRunContext, action: string, resource: string, context: Record<string, unknown> = {}): Promise<void> => {
    const request: AuthorizationRequest = { agent_id: ctx.agent_id, action, resource, context: { agent_name: ctx.agent_name, ...context } };
    await authorize(withDslPolicies(deps.authorizer, ctx.policies, deps.clock, deps.events), deps.events, request);
  };

  return {
    log(ctx, level, message, fields) {
      deps.logger.child({ agent_id: ctx.agent_id, agent_name: ctx.agent_name })[level]({ dsl: true, ...fields }, message);
      deps.events.emit("dsl.logged", { agent_id: ctx.agent_id, agent_name: ctx.agent_name, level, message });
    },
    now: () => deps.clock.now(),
    async publish(ctx, topic, payload) {
      await check(ctx, "message.publish", topic);
      if (!deps.bus) throw missing("publish", "a message bus");
      return deps.bus.publish(ctx.agent_id, topic, payload);
    },
    async send(ctx, to, payload) {
      await check(ctx, "message.send", to);
      if (!deps.bus) throw missing("send", "a message bus");
      return deps.bus.send(ctx.agent_id, to, payload);
    },
    async delegate(ctx, agent, input) {
      await check(ctx, "task.delegate", agent);
      if (!deps.scheduler) throw missing("delegate", "a scheduler");
      return deps.scheduler.delegate(ctx.agent_id, agent, input);
    },
    async spawnAgent(ctx, name, config) {
      await check(ctx, "agent.spawn", name);
      if (!deps.lifecycle) throw missing("spawn_agent", "a lifecycle controller");
      return deps.lifecycle.spawn(ctx.agent_id, name, config);
    },
    async callTool(ctx, tool, input) {
      await check(ctx, "tool.call", tool, { args: input.args, named: input.named });
      const spec = deps.tools?.get(tool);
      if (spec?.network) await check(ctx, "sandbox.network", tool);
      const sandbox = ctx.sandbox_id ?? (spec && ctx.sandbox ? await ctx.sandbox() : undefined);
      const result = deps.tools
        ? await deps.tools.call(tool, input, sandbox)
        : ({ status: "not_executed", tool, reason: "no tool registry is configured" } as const);
      deps.events.emit("dsl.tool_called", {
        agent_id: ctx.agent_id,
        agent_name: ctx.agent_name,
        tool,
        status: result.status,
        ...(result.status !== "not_executed" ? { exit_code: result.exit_code } : {}),
      });
      return result;
    },
    async llm(ctx, request) {
      const model = typeof request.options.model === "string" ? request.options.model : deps.llm?.defaultModel ?? "";
      await check(ctx, "llm.call", model);
      if (!deps.llm) throw llmNotConfigured();
      await check(ctx, "network.http", deps.llm.endpoint);
      const answer = await deps.llm.complete({
        messages: llmMessages(request),
        model,
        ...(typeof request.options.temperature === "number" ? { temperature: request.options.temperature } : {}),
        ...(typeof request.options.max_tokens === "number" ? { max_tokens: request.options.max_tokens } : {}),
      });
      deps.events.emit("dsl.llm_called", {
        agent_id: ctx.agent_id,
        agent_name: ctx.agent_name,
        model: answer.model,
        ...(answer.usage ? { total_tokens: answer.usage.total_tokens } : {}),
      });
      return answer;
    },
    async secret(ctx, path) {
      await check(ctx, "secret.read", path);
      if (!deps.secrets) throw missing(`vault://${path}`, "a secret store");
      return deps.secrets(path);
    },
  };
}
