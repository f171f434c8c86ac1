/**
 * What route modules share: the runtime, the route table, the key service, the metrics and the activity
 * reported by agents running outside the runtime.
 */
import type { FastifyInstance } from "fastify";
import type { AgentId } from "../core/ids.js";
import type { Runtime } from "../runtime.js";
import type { AgentActivity } from "./agent-activity.js";
import type { ApiKeyService } from "./keys/service.js";
import type { ApiMetrics } from "./metrics.js";
import type { RouteSpec, RouteTable } from "./route.js";

/** Measured usage of an agent's sandbox (the resource manager supplies it once wired). */
export interface UsageProvider {
  agentUsage(agentId: AgentId): Promise<{ memory_bytes: number; cpu_percent: number } | undefined>;
}

export interface ApiContext {
  readonly runtime: Runtime;
  readonly table: RouteTable;
  readonly prefix: string;
  /** Undefined under --insecure-no-auth. */
  readonly keys: ApiKeyService | undefined;
  readonly metrics: ApiMetrics;
  readonly activity: AgentActivity;
  readonly usage: UsageProvider | undefined;
}

/** A route module: registers its routes through the table. */
export type RouteModule = (app: FastifyInstance, ctx: ApiContext) => void;

export function route<P, Q, B>(app: FastifyInstance, ctx: ApiContext, spec: RouteSpec<P, Q, B>): void {
  ctx.table.add(app, ctx.prefix, spec);
}
