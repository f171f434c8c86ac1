/**
 * A runtime on a manual clock for scheduler / executor / error handler tests, plus helpers to start agents
 * with in-process handlers and an in-memory AgentMessaging (direct delivery and topic fan-out in-process).
 */
import { ManualClock, flushMicrotasks } from "../../src/core/clock.js";
import type { RuntimeConfigInput } from "../../src/core/config/index.js";
import type { RuntimeEvent } from "../../src/core/events.js";
import { AgentId, MessageId } from "../../src/core/ids.js";
import { silentLogger } from "../../src/core/logger.js";
import { parseAgentConfig, type AgentConfigInput } from "../../src/core/schemas.js";
import type { Message } from "../../src/core/types.js";
import type { AgentHandler, AgentMessaging } from "../../src/agents/index.js";
import { payloadBytes } from "../../src/agents/protocol.js";
import { createRuntime, type Runtime } from "../../src/runtime.js";

export async function makeRuntime(
  config: RuntimeConfigInput = {},
  opts: { messaging?: AgentMessaging; clock?: ManualClock } = {},
): Promise<{ runtime: Runtime; clock: ManualClock; seen: RuntimeEvent[] }> {
  const clock = opts.clock ?? new ManualClock();
  const runtime = await createRuntime({
    // The memory store keeps tests from sharing (and recovering) state through ./.symbiont.
    config: { log_level: "silent", store: { kind: "memory" }, ...config },
    clock,
    logger: silentLogger(),
    ...(opts.messaging ? { messaging: opts.messaging } : {}),
  });
  const seen: RuntimeEvent[] = [];
  runtime.events.onAny((e) => seen.push(e));
  return { runtime, clock, seen };
}

/** Creates, initializes and starts an agent, registering `handler` when given. */
export async function startAgent(runtime: Runtime, config: Partial<AgentConfigInput> = {}, handler?: AgentHandler): Promise<AgentId> {
  const agent = await runtime.lifecycle.createAgent(parseAgentConfig({ name: "agent", ...config }));
  if (handler) runtime.executor.registerHandler(agent.id, handler);
  await runtime.lifecycle.initializeAgent(agent.id);
  await runtime.lifecycle.startAgent(agent.id);
  return agent.id;
}

/** Lets promise chains (dispatch, settle, error handling) run to quiescence. */
export const settle = () => flushMicrotasks(40);

/** In-process AgentMessaging: sends go straight to the recipient's listener; `publish` fans out to a topic's subscribers. */
export class LocalMessaging implements AgentMessaging {
  readonly #listeners = new Map<AgentId, (m: Message) => Promise<void>>();
  readonly #topics = new Map<string, Set<AgentId>>();
  readonly sent: Message[] = [];

  async send(message: Message): Promise<MessageId> {
    const deliver = this.#listeners.get(message.to);
    if (!deliver) throw new Error(`agent ${message.to} is not listening`);
    this.sent.push(message);
    await deliver(message);
    return message.id;
  }

  async subscribe(agentId: AgentId, topic: string): Promise<void> {
    let set = this.#topics.get(topic);
    if (!set) this.#topics.set(topic, (set = new Set()));
    set.add(agentId);
  }

  /** Takes the agent (as the executor passes it) or, in tests, just its id. */
  listen(agent: AgentId | { readonly id: AgentId }, deliver: (message: Message) => Promise<void>): () => void {
    const agentId = typeof agent === "string" ? agent : agent.id;
    this.#listeners.set(agentId, deliver);
    return () => this.#listeners.delete(agentId);
  }

  topicsOf(agentId: AgentId): string[] {
    return [...this.#topics].filter(([, s]) => s.has(agentId)).map(([t]) => t);
  }

  /** Delivers one message per subscriber of `topic`. */
  async publish(from: AgentId, topic: string, payload: unknown): Promise<number> {
    const subs = [...(this.#topics.get(topic) ?? [])];
    for (const to of subs) {
      await this.send({ id: MessageId.new(), from, to, topic, payload: payloadBytes(payload), priority: "Normal", ttl: 60_000 });
    }
    return subs.length;
  }
}
