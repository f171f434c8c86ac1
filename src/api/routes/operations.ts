/**
 * The operations routes as one module: running agents on demand (execute, history) and schedule jobs.
 */
import type { FastifyInstance } from "fastify";
import type { ApiContext } from "../context.js";
import { executionRoutes } from "./executions.js";
import { scheduleRoutes } from "./schedules.js";

export function operationRoutes(app: FastifyInstance, ctx: ApiContext): void {
  executionRoutes(app, ctx);
  scheduleRoutes(app, ctx);
}
