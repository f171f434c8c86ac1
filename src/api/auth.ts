/**
 * Authentication and authorization for routes. Every route declares its access; anything not `public`
 * needs `Authorization: Bearer <key_id>.<secret>`. Under --insecure-no-auth (loopback only) every request
 * acts as an anonymous admin.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, onRequestHookHandler } from "fastify";
import { ApiError } from "../core/errors.js";
import type { AgentId } from "../core/ids.js";
import { safeEqual } from "./keys/hash.js";
import type { ApiKeyService, PresentedKey } from "./keys/service.js";
import type { Principal } from "./keys/types.js";
import type { RateLimiter } from "./rate-limit.js";
import { appendOnRequest } from "./route.js";

export const ANONYMOUS_ADMIN: Principal = Object.freeze({ key_id: "anonymous", name: "anonymous (auth disabled)", admin: true, agent_ids: null, anonymous: true });

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost", "::ffff:127.0.0.1"]);

export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * The last Authorization header each connection sent, as `keys.present` read it: a keep-alive client sends the
 * same header on every request, and parsing and digesting it again costs more than the rest of authentication.
 */
const presentedOnConnection = new WeakMap<object, { readonly header: string; readonly key: PresentedKey | undefined }>();

/** The request's token as `keys.present` reads it (undefined: none usable). */
function presentedKey(keys: ApiKeyService, request: FastifyRequest): PresentedKey | undefined {
  const header = request.headers.authorization;
  const connection = request.raw.socket as object | undefined;
  if (!header || !connection) return keys.present(header);
  const last = presentedOnConnection.get(connection);
  // Compared in constant time: a proxy may carry several clients' requests over one connection.
  if (last && safeEqual(last.header, header)) return last.key;
  const key = keys.present(header);
  presentedOnConnection.set(connection, { header, key });
  return key;
}

/**
 * Rate-limits (with `limiter`) and authenticates requests in one route-level onRequest hook, so that both
 * share one lookup of the caller's key. The limit comes first, so a flood of bad keys is throttled before any
 * scrypt work, and the hook runs before the body is read, so an unauthenticated caller cannot make the
 * server parse a body. Health probes are not limited; routes without a declared access (unknown routes
 * answer 404/405 without a key, as health probes do) and public ones are not authenticated. A key verified
 * recently is resolved synchronously; only a cache miss awaits the store and scrypt.
 */
export function registerAuth(app: FastifyInstance, keys: ApiKeyService | undefined, limiter?: RateLimiter): void {
  // Declared up front so that every request object has one shape: a property first added per request in a hook
  // makes fastify's request accesses megamorphic.
  app.decorateRequest("principal", undefined);
  app.addHook("onRoute", (route) => {
    const access = route.config?.access;
    const authenticates = access !== undefined && access !== "public";
    const limits = limiter !== undefined && !route.config?.probe;
    if (!authenticates && !limits) return;
    const adminOnly = access === "admin";
    function guard(request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
      const key = keys && presentedKey(keys, request);
      const verified = keys?.verified(key);
      if (limits) {
        const limited = limiter.check(verified?.keyId, request, reply);
        if (limited) return done(limited);
      }
      if (!authenticates) return done();
      if (!keys) return admit(request, ANONYMOUS_ADMIN, adminOnly, done);
      if (verified) {
        let principal: Principal;
        try {
          principal = keys.principalOf(verified);
        } catch (err) {
          return done(err as Error);
        }
        return admit(request, principal, adminOnly, done);
      }
      keys.authenticate(request.headers.authorization, key).then(
        (principal) => admit(request, principal, adminOnly, done),
        (err: Error) => done(err),
      );
    }
    appendOnRequest(route, guard as onRequestHookHandler);
  });
}

function admit(request: FastifyRequest, principal: Principal, adminOnly: boolean, done: HookHandlerDoneFunction): void {
  if (adminOnly && !principal.admin) {
    return done(new ApiError("ADMIN_REQUIRED", "This route needs an admin API key", { details: { key_id: principal.key_id } }));
  }
  request.principal = principal;
  done();
}

/** Whether the caller may act on `agentId`. */
export function inScope(principal: Principal | undefined, agentId: AgentId | string): boolean {
  return !principal || principal.agent_ids === null || principal.agent_ids.includes(agentId.toLowerCase());
}

/** Throws AGENT_SCOPE_DENIED unless the caller may act on `agentId`. */
export function requireScope(principal: Principal | undefined, agentId: AgentId | string): void {
  if (!inScope(principal, agentId)) {
    throw new ApiError("AGENT_SCOPE_DENIED", `This API key is not allowed to act on agent ${agentId}`, { details: { agent_id: agentId } });
  }
}

/** Throws AGENT_SCOPE_DENIED for keys scoped to agents (for actions that concern no single agent, like creating one). */
export function requireUnscoped(principal: Principal | undefined, what: string): void {
  if (principal && principal.agent_ids !== null) {
    throw new ApiError("AGENT_SCOPE_DENIED", `A key scoped to agents cannot ${what}`, { details: { key_id: principal.key_id } });
  }
}
