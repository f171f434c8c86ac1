/**
 * Turns a workflow definition into a validated plan: every reference names a known step, no step depends on
 * itself or on a cycle, and each step's full dependency set is known.
 */
import { parseInput } from "../core/validation.js";
import { ApiError, ValidationError } from "../core/errors.js";
import { workflowDefinitionSchema, type WorkflowDefinition } from "./schema.js";
import { referencePaths, stepReferences } from "./template.js";

export interface WorkflowPlan {
  readonly definition: WorkflowDefinition;
  /** Step id → the steps it waits for. */
  readonly deps: ReadonlyMap<string, ReadonlySet<string>>;
  /** A topological order (dependencies first). */
  readonly order: readonly string[];
  /** Steps nothing depends on. */
  readonly sinks: readonly string[];
}

function invalid(id: string | undefined, message: string, details: Record<string, unknown> = {}): ApiError {
  return new ApiError("WORKFLOW_INVALID", `Invalid workflow${id ? ` ${id}` : ""}: ${message}`, {
    details: { ...(id ? { workflow_id: id } : {}), ...details },
  });
}

/** Validates shape (zod) then structure; throws WORKFLOW_INVALID with the failing fields or the cycle. */
export function planWorkflow(input: unknown): WorkflowPlan {
  let def: WorkflowDefinition;
  try {
    def = parseInput(workflowDefinitionSchema, input, "workflow definition");
  } catch (err) {
    const id = input && typeof input === "object" ? (input as { id?: unknown }).id : undefined;
    throw invalid(typeof id === "string" ? id : undefined, (err as Error).message, { issues: (err as ValidationError).issues });
  }
  const ids = new Set<string>();
  for (const s of def.steps) {
    if (ids.has(s.id)) throw invalid(def.id, `duplicate step id "${s.id}"`, { step_id: s.id });
    ids.add(s.id);
  }
  const deps = new Map<string, Set<string>>();
  for (const s of def.steps) {
    const d = new Set([...s.depends_on, ...stepReferences(s.input)]);
    for (const path of referencePaths(s.input)) {
      const root = path.split(".")[0];
      if (root !== "parameters" && root !== "steps") {
        throw invalid(def.id, `step "${s.id}" refers to {{ ${path} }}; references start with parameters or steps`, { step_id: s.id });
      }
    }
    for (const dep of d) {
      if (dep === s.id) throw invalid(def.id, `step "${s.id}" depends on itself`, { step_id: s.id, cycle: [s.id, s.id] });
      if (!ids.has(dep)) throw invalid(def.id, `step "${s.id}" refers to unknown step "${dep}"`, { step_id: s.id, unknown_step: dep });
    }
    deps.set(s.id, d);
  }
  for (const ref of stepReferences(def.output)) {
    if (!ids.has(ref)) throw invalid(def.id, `output refers to unknown step "${ref}"`, { unknown_step: ref });
  }
  const order = topoSort(def.id, def.steps.map((s) => s.id), deps);
  const depended = new Set([...deps.values()].flatMap((d) => [...d]));
  return { definition: def, deps, order, sinks: order.filter((id) => !depended.has(id)) };
}

/** Kahn's algorithm; on a cycle, reports one cycle's path. */
function topoSort(workflowId: string, ids: readonly string[], deps: ReadonlyMap<string, ReadonlySet<string>>): string[] {
  const remaining = new Map(ids.map((id) => [id, new Set(deps.get(id))]));
  const order: string[] = [];
  let ready = ids.filter((id) => remaining.get(id)?.size === 0);
  while (ready.length) {
    const next: string[] = [];
    for (const id of ready) {
      order.push(id);
      remaining.delete(id);
      for (const [other, d] of remaining) if (d.delete(id) && d.size === 0) next.push(other);
    }
    ready = next;
  }
  if (remaining.size) {
    const cycle = findCycle(remaining);
    throw invalid(workflowId, `steps form a cycle: ${cycle.join(" -> ")}`, { cycle });
  }
  return order;
}

function findCycle(remaining: ReadonlyMap<string, ReadonlySet<string>>): string[] {
  // Every remaining step waits on another remaining step, so walking dependencies must revisit a step.
  const start = remaining.keys().next().value as string;
  const seen = new Map<string, number>();
  const path: string[] = [];
  let cur = start;
  while (!seen.has(cur)) {
    seen.set(cur, path.length);
    path.push(cur);
    cur = [...(remaining.get(cur) ?? [])].find((d) => remaining.has(d)) as string;
  }
  return [...path.slice(seen.get(cur)), cur].reverse();
}
