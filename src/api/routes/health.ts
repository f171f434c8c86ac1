import type { FastifyInstance } from "fastify";
import type { Runtime } from "../../runtime.js";

/** The spec's `HealthResponse`. */
export interface HealthResponse {
  readonly status: "healthy" | "unhealthy";
  readonly uptime_seconds: number;
  readonly timestamp: string;
  readonly version: string;
}

/** Public health probe: no key needed, exactly the spec's shape. */
export function healthRoutes(runtime: Runtime) {
  return async function registerHealthRoutes(app: FastifyInstance): Promise<void> {
    app.get("/health", async (): Promise<HealthResponse> => {
      const now = runtime.clock.now();
      return {
        status: runtime.isReady() ? "healthy" : "unhealthy",
        uptime_seconds: Math.floor((now - runtime.startedAt) / 1000),
        timestamp: new Date(now).toISOString().replace(/\.\d{3}Z$/, "Z"),
        version: runtime.version,
      };
    });
  };
}
