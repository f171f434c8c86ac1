/**
 * What happens when an answer has been written: the request is observed (metrics) and, at info level, logged
 * as one access line (a span line when tracing gave it a span). Fastify calls `requestCompleted` on its log
 * controller for every finished request, 404s and router-level errors included; extending that controller is
 * fastify's documented way to change its per-request lines, and unlike an onResponse hook it costs a request
 * no hook run.
 */
import { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from "fastify";

/** Receives every finished request (the API's metrics). */
export interface RequestObserver {
  observe(method: string, route: string, status: number, seconds: number): void;
}

type LevelAware = FastifyBaseLogger & { isLevelEnabled(level: string): boolean };

export class AccessLog extends LogController {
  readonly #observer: RequestObserver;

  constructor(observer: RequestObserver) {
    // Fastify's own request lines are off: the line written here replaces them.
    super({ requestIdLogLabel: "request_id", disableRequestLogging: true });
    this.#observer = observer;
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    // routeOptions builds a fresh object on every read: read it once.
    const url = request.routeOptions.url;
    const route = url ?? "(unmatched)";
    this.#observer.observe(request.method, url ?? "unmatched", reply.statusCode, reply.elapsedTime / 1000);
    // The answer could not be written in full (the connection broke): worth a line whatever the level.
    if (error) return void request.log.warn({ err: error, method: request.method, route, status: reply.statusCode }, "answer not delivered");
    if (!(request.log as LevelAware).isLevelEnabled("info")) return;
    const fields = {
      method: request.method,
      route,
      url: request.url.split("?")[0],
      status: reply.statusCode,
      duration_ms: Math.round(reply.elapsedTime * 1000) / 1000,
      ...(request.principal ? { key_id: request.principal.key_id } : {}),
    };
    if (request.span) request.log.info({ ...fields, span: { name: `${request.method} ${route}`, ...request.span } }, "span");
    else request.log.info(fields, "request");
  }
}
