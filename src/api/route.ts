/**
 * Declaring a route once: its zod schemas validate the request and describe it in the OpenAPI document, and
 * its `access` (public, key, admin) is enforced by the auth hook. Handlers get parsed inputs and the caller.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler, RouteOptions } from "fastify";
import { z } from "zod";
import { ApiError, ValidationError } from "../core/errors.js";
import { AgentId } from "../core/ids.js";
import { fieldIssues } from "../core/validation.js";
import type { Principal } from "./keys/types.js";

export type Access = "public" | "key" | "admin";
export type Method = "GET" | "POST" | "PUT" | "DELETE";

export interface RouteInput<P, Q, B> {
  readonly params: P;
  readonly query: Q;
  readonly body: B;
  readonly principal: Principal | undefined;
  readonly request: FastifyRequest;
  readonly reply: FastifyReply;
}

export interface RouteSpec<P = unknown, Q = unknown, B = unknown> {
  readonly method: Method;
  /** Fastify path under the prefix, e.g. `/agents/:id/status`. */
  readonly url: string;
  readonly summary: string;
  readonly description?: string;
  readonly tag: string;
  readonly access: Access;
  /**
   * A health probe: never rate-limited, so an orchestrator polling it during a flood of other requests cannot
   * read a 429 as "unhealthy" and restart a runtime that is fine.
   */
  readonly probe?: boolean;
  readonly params?: z.ZodType<P>;
  readonly query?: z.ZodType<Q>;
  readonly body?: z.ZodType<B>;
  /** Documents the success body. */
  readonly response?: z.ZodType;
  /** Success status (default 200). */
  readonly status?: number;
  readonly bodyLimit?: number;
  /** Answers as text with this content type instead of JSON (docs page, Prometheus exposition). */
  readonly produces?: string;
  readonly handler: (input: RouteInput<P, Q, B>) => Promise<unknown> | unknown;
}

declare module "fastify" {
  interface FastifyContextConfig {
    access?: Access;
    /** Never rate-limited (see `RouteSpec.probe`). */
    probe?: boolean;
  }
  interface FastifyRequest {
    principal?: Principal;
  }
}

/**
 * A path parameter that must be an agent id: a malformed one is 400 INVALID_AGENT_ID (checked before the
 * body, so a bad id is reported as such whatever the body holds).
 */
export const agentIdString = z.string().superRefine((s, c) => {
  if (!AgentId.is(s)) c.addIssue({ code: "custom", message: "expected a UUID", params: { apiCode: "INVALID_AGENT_ID" } });
});

/** A path parameter that must be a message id: a malformed one is 400 INVALID_MESSAGE_ID. */
export const messageIdString = z.string().superRefine((s, c) => {
  if (!AgentId.is(s)) c.addIssue({ code: "custom", message: "expected a UUID", params: { apiCode: "INVALID_MESSAGE_ID" } });
});

function parse<T>(schema: z.ZodType<T> | undefined, value: unknown, what: string): T {
  if (!schema) return undefined as T;
  const r = schema.safeParse(value);
  if (!r.success) {
    const coded = r.error.issues.find((i): i is z.core.$ZodIssueCustom => i.code === "custom" && typeof i.params?.apiCode === "string");
    if (coded) {
      const field = String(coded.path[coded.path.length - 1] ?? "");
      const given = (value as Record<string, unknown> | undefined)?.[field];
      throw new ApiError(coded.params?.apiCode as "INVALID_AGENT_ID" | "INVALID_MESSAGE_ID", `Invalid ${field || what}: ${coded.message}, got ${JSON.stringify(String(given).slice(0, 64))}`, {
        details: { [field || what]: String(given).slice(0, 64) },
      });
    }
    throw new ValidationError(what, fieldIssues(r.error).map((i) => ({ ...i, path: i.path ? `${what}.${i.path}` : what })));
  }
  return r.data;
}

/** Collects route specs as they are registered, for the OpenAPI document and 405 detection. */
export class RouteTable {
  readonly routes: (RouteSpec & { readonly fullUrl: string; readonly pattern: RegExp })[] = [];

  /** Registers `spec` on `app` (whose prefix is `prefix`). */
  add<P, Q, B>(app: FastifyInstance, prefix: string, spec: RouteSpec<P, Q, B>): void {
    const fullUrl = `${prefix}${spec.url}`;
    this.routes.push({ ...(spec as RouteSpec), fullUrl, pattern: patternOf(fullUrl) });
    // A JSON 200 answer needs nothing done to the handler's promise: fastify sends what it resolves to (or
    // nothing when the handler sent the reply itself), so it is handed over as is, one promise fewer.
    const plain = spec.status === undefined && spec.produces === undefined;
    app.route({
      method: spec.method,
      url: spec.url,
      ...(spec.bodyLimit ? { bodyLimit: spec.bodyLimit } : {}),
      config: { access: spec.access, probe: spec.probe === true },
      // Not async: a handler that answers a plain value (health probes) is answered at once, without the
      // promise and microtask an async wrapper adds to every request.
      handler: function routeHandler(request, reply) {
        const input: RouteInput<P, Q, B> = {
          params: parse(spec.params, request.params, "params"),
          query: parse(spec.query, request.query, "query"),
          body: parse(spec.body, spec.body && request.body === undefined ? {} : request.body, "body"),
          principal: request.principal,
          request,
          reply,
        };
        const out = spec.handler(input);
        if (out instanceof Promise) return plain ? out : out.then((value: unknown) => settle(reply, spec, value));
        const value = settle(reply, spec, out);
        // Fastify sends what a plain handler returns unless it is undefined: say so for an empty answer.
        if (value === undefined) void reply.send();
        return value === reply ? undefined : value;
      },
    });
  }

  /** Methods registered for a concrete path (for 405 answers). */
  methodsFor(path: string): string[] {
    const out = new Set<string>();
    for (const r of this.routes) if (r.pattern.test(path)) out.add(r.method);
    if (out.has("GET")) out.add("HEAD");
    return [...out];
  }
}

/** Status and content type of a route's answer; `reply` itself when the handler already answered. */
function settle(reply: FastifyReply, spec: Pick<RouteSpec, "status" | "produces">, out: unknown): unknown {
  if (reply.sent) return reply;
  void reply.status(spec.status ?? 200);
  if (spec.produces) void reply.type(spec.produces);
  return out;
}

/** Adds `hook` after a route's own onRequest hooks (from an `onRoute` hook, so cross-cutting checks run in registration order). */
export function appendOnRequest(route: RouteOptions, hook: onRequestHookHandler): void {
  // A new array, never a push: fastify's implicit HEAD route starts from a copy of these options.
  const own = route.onRequest;
  route.onRequest = own ? [...(Array.isArray(own) ? own : [own]), hook] : [hook];
}

function patternOf(url: string): RegExp {
  const body = url
    .split("/")
    .map((seg) => (seg.startsWith(":") ? "[^/]+" : seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
    .join("/");
  return new RegExp(`^${body}/?$`);
}
