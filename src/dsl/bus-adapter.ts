/**
 * `publish` / `send` from a DSL body over the runtime's communication bus: the bus signs, encrypts and
 * policy-checks each message (`message.send` with the agent as sender) exactly as for any other sender.
 * A recipient is an agent id or an agent name; the payload travels as JSON text.
 */
import { DslError } from "../core/errors.js";
import { AgentId, MessageId } from "../core/ids.js";
import type { Message } from "../core/types.js";
import type { CommunicationBus } from "../bus/types.js";
import type { LifecycleController } from "../lifecycle/types.js";
import type { DslBus } from "./host.js";

function bytes(payload: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(payload ?? null), "utf8");
}

export function busForDsl(bus: Pick<CommunicationBus, "sendMessage" | "broadcastMessage">, lifecycle: Pick<LifecycleController, "listAgents">): DslBus {
  const resolve = async (from: AgentId, to: string): Promise<AgentId> => {
    if (AgentId.is(to)) return AgentId.parse(to);
    const agents = (await lifecycle.listAgents()).filter((a) => a.config.name === to);
    if (agents.length === 1) return (agents[0] as (typeof agents)[number]).id;
    throw new DslError(
      "DSL_AGENT_NOT_FOUND",
      agents.length === 0 ? `send: no agent named ${JSON.stringify(to)}` : `send: ${agents.length} agents are named ${JSON.stringify(to)}; send to an id`,
      { details: { from, to } },
    );
  };
  const message = (from: AgentId, to: AgentId, topic: string, payload: unknown): Message => ({
    id: MessageId.new(),
    from,
    to,
    topic,
    payload: bytes(payload),
    priority: "Normal",
    ttl: 0,
  });
  return {
    async send(from, to, payload) {
      return bus.sendMessage(message(from, await resolve(from, to), "direct", payload));
    },
    async publish(from, topic, payload) {
      return bus.broadcastMessage(topic, message(from, from, topic, payload));
    },
  };
}
