/**
 * `POST /agents` and `PUT /agents/{id}` with a `dsl` field: the source is parsed and extracted (a problem is
 * DSL_PARSE_ERROR / DSL_EXTRACTION_ERROR, 400, with `file:line:col` per problem in `details.diagnostics`),
 * then every agent of the file is deployed — or, on update, the agent's definition re-extracted. The other
 * body fields are laid over the named agent's extracted configuration.
 */
import type { AgentId } from "../core/ids.js";
import type { AgentInstance } from "../core/types.js";
import { deployDsl, redeployDsl } from "../dsl/index.js";
import type { Runtime } from "../runtime.js";
import { agentConfigInput, type CreateAgentBody, type UpdateAgentBody } from "./wire.js";

/** The name diagnostics use for a source that came in a request body. */
const SOURCE_NAME = "dsl";

/** The body's other fields; resource limits stay partial so the file's limits fill the rest. */
function overrides(body: UpdateAgentBody, now: number): Record<string, unknown> {
  const { name: _name, dsl_source: _dsl, resource_limits: _limits, ...rest } = agentConfigInput(body, now);
  return { ...rest, ...(body.resource_limits !== undefined ? { resource_limits: body.resource_limits } : {}) };
}

/** Creates and starts the file's agents; the one `body.name` names (or the only one) comes first. */
export async function createFromDsl(runtime: Runtime, body: CreateAgentBody & { dsl: string }): Promise<AgentInstance[]> {
  const file = runtime.dsl.compile(body.dsl, SOURCE_NAME);
  return deployDsl(runtime, file, { name: body.name, overrides: overrides(body, runtime.clock.now()) });
}

/** Re-extracts the agent's definition from `body.dsl` and applies it (with the other body fields). */
export async function updateFromDsl(runtime: Runtime, id: AgentId, body: UpdateAgentBody & { dsl: string }): Promise<void> {
  const file = runtime.dsl.compile(body.dsl, SOURCE_NAME);
  await redeployDsl(runtime, id, file, { ...overrides(body, runtime.clock.now()), ...(body.name !== undefined ? { name: body.name } : {}) });
}
