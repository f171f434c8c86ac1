/**
 * The HTTP API (fastify). Routes live under `/api/v1`; errors always come back as `{error, code, details}`.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { ApiError } from "../core/errors.js";
import type { Runtime } from "../runtime.js";
import { sendError } from "./errors.js";
import { healthRoutes } from "./routes/health.js";

export const API_PREFIX = "/api/v1";

export async function createApiServer(runtime: Runtime): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: runtime.logger.child({ component: "api" }) as FastifyBaseLogger,
    bodyLimit: 2 * 1024 * 1024,
  });
  app.setErrorHandler((err, request, reply) => sendError(err, request, reply));
  app.setNotFoundHandler((request, reply) =>
    sendError(new ApiError("NOT_FOUND", `No route ${request.method} ${request.url.split("?")[0]}`), request, reply),
  );
  await app.register(healthRoutes(runtime), { prefix: API_PREFIX });
  return app;
}
