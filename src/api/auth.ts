/**
 * Authentication and authorization for routes. Every route declares its access; anything not `public`
 * needs `Authorization: Bearer <key_id>.<secret>`. Under --insecure-no-auth (loopback only) every request
 * acts as an anonymous admin.
 */
import type { FastifyInstance } from "fastify";
import { ApiError } from "../core/errors.js";
import type { AgentId } from "../core/ids.js";
import type { ApiKeyService } from "./keys/service.js";
import type { Principal } from "./keys/types.js";

export const ANONYMOUS_ADMIN: Principal = Object.freeze({ key_id: "anonymous", name: "anonymous (auth disabled)", admin: true, agent_ids: null, anonymous: true });

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost", "::ffff:127.0.0.1"]);

export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * Resolves the caller for every non-public route, or answers 401. It runs in `preParsing`: after the rate
 * limiter (a route-level onRequest hook), so a flood of bad keys is throttled before any scrypt work, and
 * before the body is read, so an unauthenticated caller cannot make the server parse a body.
 */
export function registerAuth(app: FastifyInstance, keys: ApiKeyService | undefined): void {
  app.addHook("preParsing", async function authenticate(request, _reply, payload) {
    const access = request.routeOptions.config?.access;
    // Unknown routes answer 404/405 without a key, as health probes do; they reveal nothing else.
    if (access === undefined || access === "public") return payload;
    const principal = keys ? await keys.authenticate(request.headers.authorization) : ANONYMOUS_ADMIN;
    if (access === "admin" && !principal.admin) {
      throw new ApiError("ADMIN_REQUIRED", "This route needs an admin API key", { details: { key_id: principal.key_id } });
    }
    request.principal = principal;
    return payload;
  });
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
