/**
 * Messaging through the real bus: a message posted here is signed, encrypted and policy-checked like any other
 * (`message.send` is asked with the sender as the agent). Draining returns the recipient's queued messages,
 * verified and decrypted. TTLs are clamped to 1..86400 s and to the bus's own `message_ttl`.
 */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { MessageId } from "../../core/ids.js";
import type { DeliveryStatus, SecureMessage } from "../../core/types.js";
import { requireScope } from "../auth.js";
import { route, type ApiContext } from "../context.js";
import { agentIdString, messageIdString } from "../route.js";
import { agentIdParam } from "../wire.js";

const MAX_TTL_SECONDS = 86_400;

export const sendMessageBodySchema = z
  .object({
    sender: agentIdString,
    payload: z.string(),
    ttl_seconds: z.number().int().optional(),
    topic: z.string().min(1).max(256).optional(),
  })
  .strict();

const wireMessage = z.object({
  message_id: z.string().uuid(),
  sender: z.string().uuid(),
  recipient: z.string().uuid(),
  topic: z.string(),
  payload: z.string(),
  message_type: z.enum(["direct", "topic"]),
  timestamp_secs: z.number().int(),
  ttl_seconds: z.number().int(),
});

/** 1..86400 s, and never beyond what the bus keeps a message. */
export function clampTtlSeconds(requested: number | undefined, busTtlMs: number): number {
  const ceiling = Math.max(1, Math.min(MAX_TTL_SECONDS, Math.floor(busTtlMs / 1000)));
  if (requested === undefined) return ceiling;
  return Math.min(ceiling, Math.max(1, requested));
}

function toWire(m: SecureMessage): z.infer<typeof wireMessage> {
  const { message } = m;
  return {
    message_id: message.id,
    sender: message.from,
    recipient: message.to,
    topic: message.topic,
    payload: new TextDecoder().decode(message.payload),
    message_type: message.topic === "direct" ? "direct" : "topic",
    timestamp_secs: Math.floor(m.timestamp / 1000),
    ttl_seconds: Math.floor(message.ttl / 1000),
  };
}

function statusWire(s: DeliveryStatus): "pending" | "delivered" | "failed" | "expired" {
  return s.toLowerCase() as "pending" | "delivered" | "failed" | "expired";
}

export function messageRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { bus, config } = ctx.runtime;
  const limit = config.api.message_body_limit;

  route(app, ctx, {
    method: "POST",
    url: "/agents/:id/messages",
    tag: "messages",
    access: "key",
    summary: "Send a message to the agent (signed, encrypted and policy-checked by the bus)",
    params: z.object({ id: agentIdString }),
    body: sendMessageBodySchema,
    bodyLimit: limit,
    response: z.object({ message_id: z.string().uuid(), status: z.literal("pending"), ttl_seconds: z.number().int() }),
    handler: async ({ params, body, principal }) => {
      const recipient = agentIdParam(params.id);
      const sender = agentIdParam(body.sender);
      requireScope(principal, recipient);
      requireScope(principal, sender);
      const ttl_seconds = clampTtlSeconds(body.ttl_seconds, config.communication.message_ttl);
      const id = await bus.sendMessage({
        id: MessageId.new(),
        from: sender,
        to: recipient,
        topic: body.topic ?? "direct",
        payload: new TextEncoder().encode(body.payload),
        priority: "Normal",
        ttl: ttl_seconds * 1000,
      });
      return { message_id: id, status: "pending" as const, ttl_seconds };
    },
  });

  route(app, ctx, {
    method: "GET",
    url: "/agents/:id/messages",
    tag: "messages",
    access: "key",
    summary: "Drain the agent's queued messages (verified and decrypted)",
    params: z.object({ id: agentIdString }),
    response: z.object({ messages: z.array(wireMessage) }),
    handler: async ({ params, principal }) => {
      const id = agentIdParam(params.id);
      requireScope(principal, id);
      return { messages: (await bus.receiveMessages(id)).map(toWire) };
    },
  });

  route(app, ctx, {
    method: "GET",
    url: "/messages/:id/status",
    tag: "messages",
    access: "key",
    summary: "Delivery status of a message",
    params: z.object({ id: messageIdString }),
    response: z.object({ message_id: z.string().uuid(), status: z.enum(["pending", "delivered", "failed", "expired"]) }),
    handler: async ({ params }) => {
      const id = MessageId.parse(params.id);
      return { message_id: id, status: statusWire(await bus.getMessageStatus(id)) };
    },
  });
}
