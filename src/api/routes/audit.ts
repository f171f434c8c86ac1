/**
 * The audit trail over HTTP: paged queries, single records, chain verification and streamed exports that
 * `symbiont audit verify <file>` checks offline (they carry the chain fields, the signed checkpoints and the
 * public key). Querying is open to scoped keys for their own agents' records; verify, export and the key
 * are admin business.
 */
import { Readable } from "node:stream";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { AUDIT_EVENT_TYPES, type AuditQuery, type AuditRecord, type AuditTrail, type ExportFormat } from "../../audit/index.js";
import { ApiError, AuditError } from "../../core/errors.js";
import { AgentId, AuditId } from "../../core/ids.js";
import type { Principal } from "../keys/types.js";
import { requireScope } from "../auth.js";
import { route, type ApiContext } from "../context.js";
import { agentIdString } from "../route.js";

const MAX_AUDIT_PAGE = 1000;

/** ISO-8601 or epoch ms, as epoch ms. */
const instant = z.string().transform((s, c) => {
  const ms = /^\d{1,15}$/.test(s) ? Number(s) : Date.parse(s);
  if (!Number.isFinite(ms) || ms < 0) {
    c.addIssue({ code: "custom", message: "expected an ISO-8601 time or epoch milliseconds" });
    return z.NEVER;
  }
  return ms;
});

/** One or several event types: repeated (`?event_type=A&event_type=B`) or comma-separated. */
const eventTypes = z
  .union([z.string(), z.array(z.string())])
  .transform((v) => (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(",")).map((s) => s.trim()).filter(Boolean))
  .pipe(z.array(z.enum(AUDIT_EVENT_TYPES)).max(AUDIT_EVENT_TYPES.length));

const filterFields = {
  agent_id: agentIdString.optional(),
  event_type: eventTypes.optional(),
  from: instant.optional().describe("inclusive; ISO-8601 or epoch ms"),
  to: instant.optional().describe("inclusive; ISO-8601 or epoch ms"),
  text: z.string().min(1).max(256).optional().describe("case-insensitive substring of details"),
};

export const auditQuerySchema = z
  .object({
    ...filterFields,
    order: z.enum(["asc", "desc"]).default("desc").describe("by sequence number; newest first by default"),
    limit: z.coerce.number().int().min(1).max(MAX_AUDIT_PAGE).default(100),
    cursor: z.string().min(1).max(256).optional(),
  })
  .strict();

const exportQuerySchema = z.object({ ...filterFields, format: z.enum(["json", "ndjson", "csv"]).default("ndjson") }).strict();

export const auditEventWire = z.object({
  id: z.string().uuid(),
  seq: z.number().int(),
  timestamp: z.string().describe("ISO-8601 with milliseconds"),
  event_type: z.enum(AUDIT_EVENT_TYPES),
  agent_id: z.string().uuid().nullable(),
  details: z.string(),
  metadata: z.record(z.string(), z.string()),
  prev_hash: z.string(),
  hash: z.string(),
});

const integrityReportWire = z.object({
  valid: z.boolean(),
  from_seq: z.number().int(),
  to_seq: z.number().int(),
  records_checked: z.number().int(),
  checkpoints_checked: z.number().int(),
  first_broken_seq: z.number().int().nullable(),
  problem: z.object({ kind: z.string(), message: z.string() }).nullable(),
  unsigned_records: z.number().int(),
  key_id: z.string(),
});

const verifyBodySchema = z
  .object({
    from_sequence: z.number().int().min(1).optional(),
    to_sequence: z.number().int().min(1).optional(),
  })
  .strict()
  .refine((b) => b.from_sequence === undefined || b.to_sequence === undefined || b.from_sequence <= b.to_sequence, {
    message: "from_sequence is after to_sequence",
    path: ["from_sequence"],
  });

const CONTENT_TYPES: Readonly<Record<ExportFormat, string>> = {
  json: "application/json; charset=utf-8",
  ndjson: "application/x-ndjson; charset=utf-8",
  csv: "text/csv; charset=utf-8",
};

function toWire(r: AuditRecord): z.infer<typeof auditEventWire> {
  return {
    id: r.id,
    seq: r.seq,
    timestamp: new Date(r.timestamp).toISOString(),
    event_type: r.event_type,
    agent_id: r.agent_id,
    details: r.details,
    metadata: { ...r.metadata },
    prev_hash: r.prev_hash,
    hash: r.hash,
  };
}

function trailOf(ctx: ApiContext): AuditTrail {
  if (!ctx.runtime.audit) throw new AuditError("AUDIT_DISABLED", "The audit trail is disabled (audit.enabled is false)");
  return ctx.runtime.audit;
}

/**
 * The agent a caller's query is narrowed to: any (or the one asked for) for an unscoped key; for a scoped
 * key the one asked for when it is in scope, or its only agent when it names none.
 */
function scopedAgent(principal: Principal | undefined, asked: string | undefined): AgentId | undefined {
  if (asked !== undefined) {
    requireScope(principal, asked);
    return AgentId.parse(asked);
  }
  const scope = principal?.agent_ids;
  if (!scope) return undefined;
  if (scope.length === 1) return AgentId.parse(scope[0] as string);
  throw new ApiError("AGENT_SCOPE_DENIED", "A key scoped to several agents must name one of them in agent_id", {
    details: { key_id: principal.key_id },
  });
}

function filters(q: { agent_id?: string | undefined; event_type?: string[] | undefined; from?: number | undefined; to?: number | undefined; text?: string | undefined }): AuditQuery {
  return {
    ...(q.agent_id !== undefined ? { agent_id: AgentId.parse(q.agent_id) } : {}),
    ...(q.event_type?.length ? { event_types: q.event_type as AuditQuery["event_types"] } : {}),
    ...(q.from !== undefined ? { from_time: q.from } : {}),
    ...(q.to !== undefined ? { to_time: q.to } : {}),
    ...(q.text !== undefined ? { text: q.text } : {}),
  };
}

/** Starts the export and reads its first chunk, so a refused query is an error answer rather than a cut stream. */
async function startExport(trail: AuditTrail, query: AuditQuery, format: ExportFormat): Promise<Readable> {
  const chunks = trail.exportStream(query, format)[Symbol.asyncIterator]();
  const first = await chunks.next();
  async function* rest(): AsyncGenerator<string> {
    if (first.done) return;
    try {
      yield first.value;
      for (let next = await chunks.next(); !next.done; next = await chunks.next()) yield next.value;
    } finally {
      // A client that hangs up ends the export's own generator too, rather than leaving it suspended.
      await chunks.return?.();
    }
  }
  return Readable.from(rest(), { objectMode: false });
}

export function auditRoutes(app: FastifyInstance, ctx: ApiContext): void {
  route(app, ctx, {
    method: "GET",
    url: "/audit/events",
    tag: "audit",
    access: "key",
    summary: "Query audit records (paged, newest first by default)",
    description:
      "Filters combine with AND. A key scoped to agents sees only records of its agents: it names one in agent_id, or gets its only agent's records.",
    query: auditQuerySchema,
    response: z.object({ events: z.array(auditEventWire), next_cursor: z.string().nullable() }),
    handler: async ({ query, principal }) => {
      const agent = scopedAgent(principal, query.agent_id);
      const page = await trailOf(ctx).queryPage({
        ...filters({ ...query, agent_id: agent }),
        order: query.order,
        limit: query.limit,
        ...(query.cursor !== undefined ? { cursor: query.cursor } : {}),
      });
      return { events: page.events.map(toWire), next_cursor: page.next_cursor };
    },
  });

  route(app, ctx, {
    method: "GET",
    url: "/audit/events/:id",
    tag: "audit",
    access: "key",
    summary: "One audit record",
    params: z.object({ id: z.string().refine((s) => AuditId.is(s), "expected a UUID") }),
    response: auditEventWire,
    handler: async ({ params, principal }) => {
      const record = await trailOf(ctx).getEvent(AuditId.parse(params.id));
      if (principal?.agent_ids) {
        if (!record.agent_id) throw new ApiError("AGENT_SCOPE_DENIED", "This audit record concerns no agent; only unscoped keys may read it", { details: { id: params.id } });
        requireScope(principal, record.agent_id);
      }
      return toWire(record);
    },
  });

  route(app, ctx, {
    method: "POST",
    url: "/audit/verify",
    tag: "audit",
    access: "admin",
    summary: "Verify the hash chain and signed checkpoints over a sequence range (default: everything stored)",
    body: verifyBodySchema,
    response: integrityReportWire,
    handler: ({ body }) => trailOf(ctx).verifySequence(body.from_sequence, body.to_sequence),
  });

  route(app, ctx, {
    method: "GET",
    url: "/audit/export",
    tag: "audit",
    access: "admin",
    summary: "Stream an export (json, ndjson or csv) that `symbiont audit verify <file>` checks offline",
    description:
      "Every record matching the filters, in sequence order, with the chain fields; JSON and NDJSON also carry the signed checkpoints and the public key (CSV has records only). An unfiltered export signs the head first, so all of it is covered by a checkpoint.",
    query: exportQuerySchema,
    handler: async ({ query, reply }) => {
      const stream = await startExport(trailOf(ctx), filters(query), query.format);
      const stamp = new Date(ctx.runtime.clock.now()).toISOString().replace(/[:.]/g, "-");
      void reply.type(CONTENT_TYPES[query.format]).header("content-disposition", `attachment; filename="symbiont-audit-${stamp}.${query.format}"`);
      return stream;
    },
  });

  route(app, ctx, {
    method: "GET",
    url: "/audit/public-key",
    tag: "audit",
    access: "key",
    summary: "The checkpoint public key (SPKI PEM) to verify exports against",
    response: z.object({ key_id: z.string(), public_key: z.string() }),
    handler: () => {
      const trail = trailOf(ctx);
      return { key_id: trail.keyId, public_key: trail.publicKeyPem };
    },
  });
}
