/**
 * The bus's dead-letter queue (admin keys only): list with the reason each message died, replay one (sent
 * again as a new message through the bus: signed, encrypted and policy-checked like any other) or discard it.
 * Letters the bus never authenticated carry no message and are kept as evidence only.
 */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { DeadLetter } from "../../bus/index.js";
import { CommunicationError } from "../../core/errors.js";
import { AgentId, isUuid } from "../../core/ids.js";
import { route, type ApiContext } from "../context.js";
import { pageOf, pageQueryFields, timeKey } from "../paging.js";
import { agentIdString } from "../route.js";

export const deadLetterWire = z.object({
  id: z.string().uuid(),
  message_id: z.string().uuid().nullable(),
  from: z.string().uuid().nullable(),
  to: z.string().uuid().nullable(),
  topic: z.string().nullable(),
  priority: z.string().nullable(),
  code: z.string().describe("why it died: AGENT_NOT_REGISTERED, INVALID_SIGNATURE, DECRYPTION_FAILED, REPLAY_DETECTED, DELIVERY_FAILED"),
  reason: z.string(),
  dead_at: z.string().describe("ISO-8601 with milliseconds"),
  attempts: z.number().int(),
  replayable: z.boolean().describe("false for letters the bus could not authenticate (kept as evidence)"),
  payload_bytes: z.number().int().nullable(),
});

const listQuery = z
  .object({
    agent_id: agentIdString.optional().describe("letters from or to this agent"),
    code: z.string().min(1).max(64).optional(),
    ...pageQueryFields,
  })
  .strict();

const idParams = z.object({ id: z.string().refine(isUuid, "expected a UUID") });

function toWire(d: DeadLetter): z.infer<typeof deadLetterWire> {
  return {
    id: d.id,
    message_id: d.message_id ?? null,
    from: d.from ?? null,
    to: d.to ?? null,
    topic: d.topic ?? null,
    priority: d.priority ?? null,
    code: d.code,
    reason: d.reason,
    dead_at: new Date(d.dead_at).toISOString(),
    attempts: d.attempts,
    replayable: d.message !== undefined,
    payload_bytes: d.message ? d.message.payload.byteLength : null,
  };
}

export function deadLetterRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { bus } = ctx.runtime;

  async function letter(id: string): Promise<DeadLetter> {
    const found = (await bus.listDeadLetters()).find((d) => d.id === id);
    if (!found) throw new CommunicationError("MESSAGE_NOT_FOUND", `No dead letter ${id}`, { details: { id } });
    return found;
  }

  route(app, ctx, {
    method: "GET",
    url: "/dead-letters",
    tag: "dead-letters",
    access: "admin",
    summary: "Dead letters, oldest first, with why each one died (paged)",
    query: listQuery,
    response: z.object({ dead_letters: z.array(deadLetterWire), next_cursor: z.string().nullable() }),
    handler: async ({ query }) => {
      const agent = query.agent_id === undefined ? undefined : AgentId.parse(query.agent_id);
      const matching = (await bus.listDeadLetters()).filter(
        (d) => (agent === undefined || d.from === agent || d.to === agent) && (query.code === undefined || d.code === query.code),
      );
      const page = pageOf(matching, (d) => timeKey(d.dead_at, d.id), query.limit, query.cursor);
      return { dead_letters: page.items.map(toWire), next_cursor: page.next_cursor };
    },
  });

  route(app, ctx, {
    method: "GET",
    url: "/dead-letters/:id",
    tag: "dead-letters",
    access: "admin",
    summary: "One dead letter",
    params: idParams,
    response: deadLetterWire,
    handler: async ({ params }) => toWire(await letter(params.id.toLowerCase())),
  });

  route(app, ctx, {
    method: "POST",
    url: "/dead-letters/:id/replay",
    tag: "dead-letters",
    access: "admin",
    summary: "Send a dead letter's message again (new message id) and remove it from the queue",
    params: idParams,
    response: z.object({ id: z.string().uuid(), message_id: z.string().uuid(), status: z.literal("pending") }),
    handler: async ({ params }) => {
      const id = params.id.toLowerCase();
      const dead = await letter(id);
      if (!dead.message) {
        throw new CommunicationError("DEAD_LETTER_NOT_REPLAYABLE", `Dead letter ${id} was never authenticated (${dead.code}); it is kept as evidence and cannot be replayed`, {
          details: { id, code: dead.code },
        });
      }
      return { id, message_id: await bus.replayDeadLetter(id), status: "pending" as const };
    },
  });

  route(app, ctx, {
    method: "DELETE",
    url: "/dead-letters/:id",
    tag: "dead-letters",
    access: "admin",
    summary: "Discard a dead letter without replaying it",
    params: idParams,
    response: z.object({ id: z.string().uuid(), status: z.literal("deleted") }),
    handler: async ({ params }) => {
      const id = params.id.toLowerCase();
      await bus.discardDeadLetter(id);
      return { id, status: "deleted" as const };
    },
  });
}
