/**
 * The administrative routes, registered together: audit trail, policies, dead letters and sandboxes.
 */
import type { FastifyInstance } from "fastify";
import type { ApiContext } from "../context.js";
import { auditRoutes } from "./audit.js";
import { deadLetterRoutes } from "./dead-letters.js";
import { policyRoutes } from "./policies.js";
import { sandboxRoutes } from "./sandboxes.js";

export function adminRoutes(app: FastifyInstance, ctx: ApiContext): void {
  for (const module of [auditRoutes, policyRoutes, deadLetterRoutes, sandboxRoutes]) module(app, ctx);
}
