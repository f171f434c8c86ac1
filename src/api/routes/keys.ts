/**
 * API key management (admin keys only). A new key's secret appears once, in the create answer.
 */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { ApiError } from "../../core/errors.js";
import { AgentId } from "../../core/ids.js";
import { route, type ApiContext } from "../context.js";
import type { ApiKeyService } from "../keys/service.js";
import type { ApiKeyInfo } from "../keys/types.js";
import { isoSeconds } from "../wire.js";

export const keyInfoSchema = z.object({
  key_id: z.string(),
  name: z.string(),
  admin: z.boolean(),
  agent_ids: z.array(z.string().uuid()).nullable(),
  created_at: z.string(),
  expires_at: z.string().nullable(),
  revoked_at: z.string().nullable(),
  last_used_at: z.string().nullable(),
});

export const createKeyBodySchema = z
  .object({
    name: z.string().trim().min(1).max(128),
    admin: z.boolean().default(false),
    agent_ids: z.array(z.string().refine((s) => AgentId.is(s), "expected a UUID")).min(1).max(1024).optional(),
    /** Seconds from now. */
    expires_in_seconds: z.number().int().positive().max(10 * 365 * 86_400).optional(),
  })
  .strict()
  .refine((b) => !(b.admin && b.agent_ids), { message: "an admin key cannot be scoped to agents", path: ["agent_ids"] });

function view(k: ApiKeyInfo): z.infer<typeof keyInfoSchema> {
  const t = (v: number | null) => (v === null ? null : isoSeconds(v));
  return { ...k, agent_ids: k.agent_ids ? [...k.agent_ids] : null, created_at: isoSeconds(k.created_at), expires_at: t(k.expires_at), revoked_at: t(k.revoked_at), last_used_at: t(k.last_used_at) };
}

const keyParams = z.object({ key_id: z.string().max(64) });

function service(ctx: ApiContext): ApiKeyService {
  if (!ctx.keys) throw new ApiError("API_KEY_STORE_FAILED", "API keys are disabled (--insecure-no-auth)");
  return ctx.keys;
}

export function keyRoutes(app: FastifyInstance, ctx: ApiContext): void {
  route(app, ctx, {
    method: "GET",
    url: "/keys",
    tag: "keys",
    access: "admin",
    summary: "List API keys (never their secrets)",
    response: z.object({ keys: z.array(keyInfoSchema) }),
    handler: async () => ({ keys: (await service(ctx).list()).map(view) }),
  });

  route(app, ctx, {
    method: "POST",
    url: "/keys",
    tag: "keys",
    access: "admin",
    summary: "Create an API key; the answer holds its secret, shown this once",
    body: createKeyBodySchema,
    status: 201,
    response: keyInfoSchema.extend({ key: z.string().describe("<key_id>.<secret>; send as Authorization: Bearer <key>") }),
    handler: async ({ body }) => {
      const created = await service(ctx).create({
        name: body.name,
        admin: body.admin,
        agent_ids: body.agent_ids ?? null,
        expires_at: body.expires_in_seconds ? ctx.runtime.clock.now() + body.expires_in_seconds * 1000 : null,
      });
      return { ...view(created.info), key: created.token };
    },
  });

  route(app, ctx, {
    method: "GET",
    url: "/keys/:key_id",
    tag: "keys",
    access: "admin",
    summary: "One API key",
    params: keyParams,
    response: keyInfoSchema,
    handler: async ({ params }) => view(await service(ctx).get(params.key_id)),
  });

  route(app, ctx, {
    method: "DELETE",
    url: "/keys/:key_id",
    tag: "keys",
    access: "admin",
    summary: "Revoke an API key (immediately)",
    params: keyParams,
    response: keyInfoSchema,
    handler: async ({ params, principal }) => {
      if (principal?.key_id === params.key_id) {
        const admins = (await service(ctx).list()).filter((k) => k.admin && k.revoked_at === null && k.key_id !== params.key_id);
        if (!admins.length) {
          throw new ApiError("ADMIN_REQUIRED", "Refusing to revoke the last active admin key; create another admin key first", { details: { key_id: params.key_id } });
        }
      }
      return view(await service(ctx).revoke(params.key_id));
    },
  });
}
