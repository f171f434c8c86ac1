/**
 * The agent executor's contract: how an agent's work actually runs. Two kinds of agent go through it:
 * - trusted in-process handlers (a TypeScript function registered with the executor), for embedding and
 *   benchmarks;
 * - programs (`AgentConfig.entrypoint`) run inside the agent's sandbox, speaking the JSON-lines protocol
 *   (`protocol.ts`): a fresh process per task (Ephemeral, Scheduled, EventDriven) or one long-lived process
 *   fed tasks and messages (Persistent).
 *
 * The executor owns the agents' sandboxes (created on first use, destroyed at termination) and their
 * processes; it does not own the sandbox orchestrator or the message bus it is handed.
 */
import type { AgentId, MessageId, SandboxId } from "../core/ids.js";
import type { AgentConfig, AgentInstance, Message } from "../core/types.js";
import type { AgentSandboxCleanup } from "../errors/types.js";
import type { TaskRunner, UsageProbe } from "../scheduler/types.js";
import type { AgentContext, IncomingMessage } from "./agent-sdk.js";

/** A trusted in-process agent. */
export interface AgentHandler {
  /** Returns the task's output; a throw fails the task. `ctx.signal` aborts on timeout or cancel. */
  onTask(input: unknown, ctx: HandlerContext): unknown;
  onMessage?(message: IncomingMessage, ctx: AgentContext): unknown;
}

export interface HandlerContext extends AgentContext {
  readonly agent_id: AgentId;
  readonly signal: AbortSignal;
}

/** Agents whose work is a body in their definition (`dsl_source`), run by the DSL interpreter. */
export interface AgentBodies {
  /** Whether the agent is defined by a body (rather than a handler or an entrypoint). */
  has(config: AgentConfig): boolean;
  /**
   * Runs the body once with the task input; resolves to its value. `signal` cancels the run; `sandbox`
   * gives the agent's sandbox (created on first use) for the tools the body calls.
   */
  run(config: AgentConfig, input: unknown, options: { readonly signal: AbortSignal; readonly sandbox: () => Promise<SandboxId> }): Promise<unknown>;
}

/**
 * What the executor needs from the communication bus: send on an agent's behalf, subscribe it to topics,
 * and have messages for it pushed here. The runtime adapts the real bus to this (sendMessage,
 * subscribeToTopic, and its per-agent delivery hook with the verified, decrypted `message`).
 */
export interface AgentMessaging {
  send(message: Message): Promise<MessageId>;
  subscribe(agentId: AgentId, topic: string): Promise<void>;
  /**
   * Calls `deliver` with each message for the agent (direct or via its topics) until the returned function is
   * called. `deliver` rejects when the agent could not take the message (its inbox is full, it has no way to
   * run), so the bus can redeliver or dead-letter it rather than count it delivered.
   */
  listen(agent: Pick<AgentInstance, "id" | "config">, deliver: (message: Message) => Promise<void>): () => void;
}

/** Also a UsageProbe: the measured usage of each agent's sandbox, sampled at every health check. */
export interface AgentExecutor extends TaskRunner, AgentSandboxCleanup, UsageProbe {
  registerHandler(agentId: AgentId, handler: AgentHandler): void;
  unregisterHandler(agentId: AgentId): void;
  /** The agent's sandbox, created and started if it does not exist yet (e.g. to upload files before a task). */
  ensureSandbox(agentId: AgentId): Promise<SandboxId>;
  /** Hands a bus message to the agent: its process, its handler, or a new task (EventDriven). */
  deliver(message: Message): Promise<void>;
  /** Live agent processes (persistent agents), for status and tests. */
  processCount(): number;
  close(): Promise<void>;
}
