/**
 * The HTTP API (fastify). Routes live under `/api/v1` and are declared once with zod schemas (validation +
 * OpenAPI); errors always come back as `{error, code, details}`; every route but the health probes and the
 * static docs page needs an API key; requests are rate-limited per key and per address.
 *
 * @example
 * const app = await createApiServer(runtime);          // opens the key store from config.api.key_store
 * await app.listen({ host: "127.0.0.1", port: 8080 });
 */
import { join } from "node:path";
import cors from "@fastify/cors";
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { ApiError, ConfigurationError } from "../core/errors.js";
import type { Runtime } from "../runtime.js";
import { AccessLog } from "./access-log.js";
import { AgentActivity } from "./agent-activity.js";
import { isLoopback, registerAuth } from "./auth.js";
import type { ApiContext, RouteModule, UsageProvider } from "./context.js";
import { sendError } from "./errors.js";
import { registerHttpHooks, requestIdFrom } from "./http-hooks.js";
import { withLazyChildren } from "./request-logger.js";
import { RateLimiter } from "./rate-limit.js";
import { ApiKeyService } from "./keys/service.js";
import { MemoryApiKeyStore } from "./keys/memory-api-key-store.js";
import { SqliteApiKeyStore } from "./keys/sqlite-api-key-store.js";
import type { ApiKeyStore } from "./keys/types.js";
import { ApiMetrics } from "./metrics.js";
import { RouteTable } from "./route.js";
import { agentReportRoutes } from "./routes/agent-reports.js";
import { messageRoutes } from "./routes/messages.js";
import { agentRoutes } from "./routes/agents.js";
import { docsRoutes } from "./routes/docs.js";
import { healthRoutes } from "./routes/health.js";
import { keyRoutes } from "./routes/keys.js";
import { workflowRoutes } from "./routes/workflows.js";
import { operationRoutes } from "./routes/operations.js";
import { adminRoutes } from "./routes/admin.js";

export const API_PREFIX = "/api/v1";

export interface ApiServerOptions {
  /** Key store to use; by default opened from `config.api.key_store` (SQLite under data_dir). Closed with the server. */
  readonly keyStore?: ApiKeyStore;
  /** Measured per-agent usage for `/agents/{id}/status`; defaults to the runtime's resource manager. */
  readonly usage?: UsageProvider;
  /**
   * More route modules under `/api/v1` (messages, schedules, audit, policies, ...): each declares its routes
   * with `route(app, ctx, spec)` and so gets validation, auth, rate limiting and OpenAPI like the built-in ones.
   */
  readonly routes?: readonly RouteModule[];
}

declare module "fastify" {
  interface FastifyInstance {
    /** The API's key service; undefined when auth is disabled. */
    apiKeys: ApiKeyService | undefined;
  }
}

/** The SQLite file API keys live in. */
export function keyStorePath(dataDir: string): string {
  return join(dataDir, "api-keys.db");
}

export async function openKeyStore(runtime: Runtime): Promise<ApiKeyStore> {
  return runtime.config.api.key_store === "memory" ? new MemoryApiKeyStore() : SqliteApiKeyStore.open(keyStorePath(runtime.config.data_dir));
}

export async function createApiServer(runtime: Runtime, options: ApiServerOptions = {}): Promise<FastifyInstance> {
  const cfg = runtime.config.api;
  if (!cfg.auth_required && !isLoopback(cfg.bind_address)) {
    throw new ConfigurationError("api configuration", [
      { path: "api.auth_required", message: `may be false only on a loopback bind address, not ${cfg.bind_address}` },
    ]);
  }
  const store = cfg.auth_required ? (options.keyStore ?? (await openKeyStore(runtime))) : undefined;
  const keys = store ? new ApiKeyService(store, runtime.clock, cfg.key_cache_ttl) : undefined;

  const metrics = new ApiMetrics(runtime);
  const app = Fastify({
    loggerInstance: withLazyChildren(runtime.logger.child({ component: "api" }) as FastifyBaseLogger),
    bodyLimit: cfg.body_limit,
    genReqId: requestIdFrom,
    // One access line per request (with route, status, key id, span) and its metrics: see AccessLog.
    logController: new AccessLog(metrics),
    trustProxy: cfg.trust_proxy,
    return503OnClosing: true,
    // Router-level failures (over-long path segments, undecodable URLs) get the same error body as the rest.
    frameworkErrors: (err, request, reply) => sendError(err, request, reply),
  });
  app.decorate("apiKeys", keys);
  const table = new RouteTable();
  const activity = new AgentActivity(runtime.clock, runtime.events);
  const ctx: ApiContext = { runtime, table, prefix: API_PREFIX, keys, metrics, activity, usage: options.usage ?? resourceUsage(runtime) };

  // The management API's SDK sends Content-Type: application/json on every request, bodies or not: an empty
  // body is "no body", anything else goes through fastify's parser (which refuses __proto__ poisoning).
  const parseJson = app.getDefaultJsonParser("error", "error");
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, function emptyOrJson(request, body, done) {
    if (body === "" || (typeof body === "string" && body.trim() === "")) return done(null, undefined);
    parseJson(request, body as string, done);
  });
  app.setErrorHandler((err, request, reply) => sendError(err, request, reply));
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split("?")[0] as string;
    const allowed = table.methodsFor(path);
    if (allowed.length) {
      void reply.header("allow", allowed.join(", "));
      return sendError(new ApiError("METHOD_NOT_ALLOWED", `${request.method} is not allowed on ${path}`, { details: { allow: allowed } }), request, reply);
    }
    return sendError(new ApiError("NOT_FOUND", `No route ${request.method} ${path}`), request, reply);
  });
  registerHttpHooks(app, { tracing: cfg.enable_tracing });
  app.addHook("onClose", async function closeApi() {
    metrics.close();
    activity.close();
    await store?.close();
  });

  if (cfg.enable_cors) await app.register(cors, { origin: cfg.cors_origins.length ? [...cfg.cors_origins] : false, credentials: false });
  registerAuth(app, keys, cfg.rate_limit.enabled ? new RateLimiter(runtime.clock, cfg.rate_limit) : undefined);

  // Prometheus scrapes the conventional root path; it needs a key like everything else.
  table.add(app, "", {
    method: "GET",
    url: "/metrics",
    tag: "system",
    access: "key",
    summary: "Prometheus text exposition",
    produces: "text/plain; version=0.0.4; charset=utf-8",
    handler: () => metrics.registry.metrics(),
  });
  await app.register(
    async function apiV1(api) {
      const modules: RouteModule[] = [healthRoutes, agentRoutes, agentReportRoutes, messageRoutes, workflowRoutes, keyRoutes, operationRoutes, adminRoutes, ...(options.routes ?? []), docsRoutes];
      for (const module of modules) module(api, ctx);
    },
    { prefix: API_PREFIX },
  );
  return app;
}

/** Usage measured by the resource manager from the agent's sandbox; nothing when it has no sandbox yet. */
function resourceUsage(runtime: Runtime): UsageProvider {
  return {
    async agentUsage(agentId) {
      const u = await runtime.resources.getResourceUsage(agentId).catch(() => undefined);
      if (!u?.measured) return undefined;
      return { memory_bytes: u.memory_used, cpu_percent: u.cpu_usage * 100 };
    },
  };
}
