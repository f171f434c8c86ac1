/**
 * Cedar policies (via @cedar-policy/cedar-wasm). A request maps to Cedar as:
 * - principal `Symbiont::Agent::"<agent id>"` (`"anonymous"` without one), with attributes `name`, `tier`
 *   (0–3) and `capabilities`, and the agent's metadata as tags (`principal.getTag("team")`);
 * - action `Symbiont::Action::"<action>"` (`"message.send"`, `"sandbox.network"`, ...);
 * - resource `Symbiont::Resource::"<resource>"`;
 * - context `{resource, tier, capabilities, isolation, now, hour, weekday, network, mounts, resources?}`, with
 *   resource limits as whole numbers (`cpu_millicores` instead of fractional cores).
 * Policies are validated in strict mode against that schema on update, so a typo is rejected with Cedar's
 * message and position. Statements are indexed by the actions they name and each action's statements are
 * pre-parsed once into the wasm module, so a decision parses nothing. A decision passes only the context
 * fields and principal attributes its statements read (see cedar-projection.ts), and the outcome for the same
 * projected request is remembered by the index, which is immutable and replaced on every policy change.
 * Each action's statements are split into those that read the resource and those that do not; Cedar's
 * decision over a union of statements is the union of their decisions, and the second part's remembered
 * outcome then serves every resource an agent touches.
 */
import * as cedar from "@cedar-policy/cedar-wasm/nodejs";
import type { DetailedError } from "@cedar-policy/cedar-wasm/nodejs";
import { cedarUses, unionUses, type CedarUses } from "./cedar-projection.js";
import { invalidPolicy, lineColumn, type InvalidPolicyDetails } from "./errors.js";
import type { EvalInput } from "./input.js";

/** Actions every schema declares; config adds more (`policy.extra_actions`). */
export const KNOWN_ACTIONS: readonly string[] = [
  "agent.create", "agent.update", "agent.delete", "capability.use",
  "message.send", "message.subscribe", "message.receive",
  "sandbox.create", "sandbox.exec", "sandbox.network", "sandbox.mount", "sandbox.destroy",
  "file.upload", "file.download", "file.read", "file.write",
  "resource.allocate", "resource.update", "resource.deallocate",
  "task.schedule", "tool.call", "api.request",
];

/** The Cedar schema (text form) requests are validated against. */
export function cedarSchema(actions: readonly string[]): string {
  const names = [...new Set([...KNOWN_ACTIONS, ...actions])].map((a) => JSON.stringify(a)).join(", ");
  return `namespace Symbiont {
  entity Agent = { name: String, tier: Long, capabilities: Set<String> } tags String;
  entity Resource;
  type Limits = { memory_mb: Long, cpu_millicores: Long, disk_io_mbps: Long, network_io_mbps: Long, execution_timeout: Long, idle_timeout: Long };
  type RequestContext = { resource: String, tier: Long, capabilities: Set<String>, isolation: String, now: Long, hour: Long, weekday: Long, network: Bool, mounts: Long, resources?: Limits };
  action ${names} appliesTo { principal: [Agent], resource: [Resource], context: RequestContext };
}`;
}

export interface CedarStatement {
  /** `<policy id>#<index>`: the id Cedar reports back. */
  readonly id: string;
  readonly policyId: string;
  readonly index: number;
  readonly text: string;
  readonly effect: "permit" | "forbid";
  /** The actions the statement is scoped to; null when it applies to every action. */
  readonly actions: readonly string[] | null;
  readonly uses: CedarUses;
}

function problems(field: string, text: string, errors: readonly DetailedError[], base = 0): InvalidPolicyDetails[] {
  return errors.map((e) => {
    const loc = e.sourceLocations?.[0];
    const reason = [e.message, loc?.label, e.help].filter(Boolean).join(" — ");
    return loc ? { field, ...lineColumn(text, base + loc.start), reason } : { field, reason };
  });
}

/**
 * Splits, parses and validates one policy's Cedar text; throws POLICY_INVALID with Cedar's messages and
 * positions (line:column within the text) when anything is wrong.
 */
export function parseCedarPolicy(policyId: string, text: string, schema: string): CedarStatement[] {
  const parts = cedar.policySetTextToParts(text);
  if (parts.type === "failure") throw invalidPolicy(policyId, problems("cedar", text, parts.errors));
  if (parts.policy_templates.length > 0) throw invalidPolicy(policyId, [{ field: "cedar", reason: "templates are not supported; write static policies" }]);
  if (parts.policies.length === 0) throw invalidPolicy(policyId, [{ field: "cedar", reason: "no Cedar statements" }]);
  const ids = parts.policies.map((_, i) => `${policyId}#${i}`);
  const answer = cedar.validate({
    schema,
    policies: { staticPolicies: Object.fromEntries(parts.policies.map((p, i) => [ids[i], p])) },
    validationSettings: { mode: "strict" },
  });
  if (answer.type === "failure") throw invalidPolicy(policyId, problems("cedar", text, answer.errors));
  if (answer.validationErrors.length > 0) {
    throw invalidPolicy(
      policyId,
      answer.validationErrors.flatMap((v) => {
        const part = parts.policies[ids.indexOf(v.policyId)] ?? "";
        return problems("cedar", text, [v.error], Math.max(0, text.indexOf(part)));
      }),
    );
  }
  return parts.policies.map((p, i) => {
    const json = cedar.policyToJson(p);
    if (json.type === "failure") throw invalidPolicy(policyId, problems("cedar", text, json.errors));
    const a = json.json.action;
    const uid = (e: unknown) => ((e as { __entity?: { id: string } }).__entity ?? (e as { id: string })).id;
    const actions = a.op === "All" ? null : a.op === "==" ? ("entity" in a ? [uid(a.entity)] : null) : "entity" in a ? [uid(a.entity)] : a.entities.map(uid);
    return { id: ids[i] as string, policyId, index: i, text: p, effect: json.json.effect, actions, uses: cedarUses(json.json) };
  });
}

export interface CedarOutcome {
  readonly decision: "allow" | "deny" | null;
  /** The statements that determined the decision (satisfied permits, or satisfied forbids). */
  readonly determining: readonly CedarStatement[];
  readonly errors: readonly string[];
}

/** Part of one action's statements, pre-parsed as one set. */
interface Group {
  readonly setId: string;
  readonly byId: ReadonlyMap<string, CedarStatement>;
  readonly uses: CedarUses;
  /**
   * Outcomes by projected request: Cedar's answer is a function of exactly what the projection passes. Null
   * when the statements read `context.now`, which no two requests share.
   */
  readonly memo: Map<string, CedarOutcome> | null;
}

/** `a` and `b` as one decision: any satisfied forbid denies, else any satisfied permit allows. */
function combine(a: CedarOutcome, b: CedarOutcome): CedarOutcome {
  const decision = a.decision === "deny" || b.decision === "deny" ? "deny" : a.decision === "allow" || b.decision === "allow" ? "allow" : null;
  const determining = decision === null ? [] : [a, b].filter((o) => o.decision === decision).flatMap((o) => o.determining);
  return { decision, determining, errors: [...a.errors, ...b.errors] };
}

const NONE: CedarOutcome = { decision: null, determining: [], errors: [] };
/** Per action group; past it the oldest outcomes go first. */
const MEMO_LIMIT = 2048;

/**
 * One installed, immutable set of Cedar statements. Pre-parsed sets live in the wasm module under ids unique
 * to this index; `dispose()` empties them once a newer index replaced this one.
 */
export class CedarIndex {
  readonly #prefix: string;
  readonly #byAction = new Map<string, CedarStatement[]>();
  readonly #all: CedarStatement[] = [];
  readonly #groups = new Map<string, readonly Group[]>();
  #sets = 0;
  readonly size: number;

  constructor(prefix: string, statements: readonly CedarStatement[]) {
    this.#prefix = prefix;
    this.size = statements.length;
    for (const s of statements) {
      if (s.actions === null) this.#all.push(s);
      else for (const a of s.actions) (this.#byAction.get(a) ?? this.#byAction.set(a, []).get(a)!).push(s);
    }
  }

  #parts(action: string): readonly Group[] {
    let parts = this.#groups.get(action);
    if (parts !== undefined) return parts;
    const stmts = [...(this.#byAction.get(action) ?? []), ...this.#all];
    parts = [stmts.filter((s) => !s.uses.resource), stmts.filter((s) => s.uses.resource)].filter((p) => p.length > 0).map((p) => this.#preparse(p));
    // Action names come from enforcement points (a small fixed vocabulary); the bound guards against misuse.
    if (this.#groups.size >= 4096) this.#disposeGroups();
    this.#groups.set(action, parts);
    return parts;
  }

  #preparse(stmts: readonly CedarStatement[]): Group {
    const setId = `${this.#prefix}:${this.#sets++}`;
    const res = cedar.preparsePolicySet(setId, { staticPolicies: Object.fromEntries(stmts.map((s) => [s.id, s.text])) });
    if (res.type === "failure") throw new Error(`Cedar pre-parse failed: ${res.errors.map((e) => e.message).join("; ")}`);
    const uses = unionUses(stmts.map((s) => s.uses));
    return { setId, byId: new Map(stmts.map((s) => [s.id, s])), uses, memo: uses.opaque || uses.context.has("now") ? null : new Map() };
  }

  evaluate(input: EvalInput): CedarOutcome {
    if (this.size === 0) return NONE;
    let out = NONE;
    for (const g of this.#parts(input.action)) out = out === NONE ? this.#evaluatePart(g, input) : combine(out, this.#evaluatePart(g, input));
    return out;
  }

  #evaluatePart(g: Group, input: EvalInput): CedarOutcome {
    const principal = { type: "Symbiont::Agent", id: input.agentId ?? "anonymous" };
    const resource = input.resource ?? "";
    const context = cedarContext(input, g.uses);
    const entity = principalEntity(input, g.uses);
    if (!g.memo) return this.#authorize(g, input.action, principal, resource, context, entity);
    const key = JSON.stringify([principal.id, g.uses.resource ? resource : null, context, entity]);
    const known = g.memo.get(key);
    if (known) return known;
    const out = this.#authorize(g, input.action, principal, resource, context, entity);
    if (g.memo.size >= MEMO_LIMIT) g.memo.delete(g.memo.keys().next().value as string);
    g.memo.set(key, out);
    return out;
  }

  #authorize(g: Group, action: string, principal: cedar.TypeAndId, resource: string, context: cedar.Context, entity: Omit<cedar.EntityJson, "uid" | "parents"> | null): CedarOutcome {
    const answer = cedar.statefulIsAuthorized({
      principal,
      action: { type: "Symbiont::Action", id: action },
      resource: { type: "Symbiont::Resource", id: resource },
      context,
      preparsedPolicySetId: g.setId,
      entities: entity ? [{ uid: principal, parents: [], ...entity }] : [],
    });
    if (answer.type === "failure") return { decision: null, determining: [], errors: answer.errors.map((e) => e.message) };
    const { decision, diagnostics } = answer.response;
    const determining = diagnostics.reason.map((id) => g.byId.get(id)).filter((s): s is CedarStatement => s !== undefined);
    const errors = diagnostics.errors.map((e) => `${e.policyId}: ${e.error.message}`);
    // Cedar denies when nothing permits; only a satisfied forbid is a deny of its own.
    if (decision === "deny" && determining.length === 0) return { decision: null, determining, errors };
    return { decision, determining, errors };
  }

  #disposeGroups(): void {
    for (const parts of this.#groups.values()) for (const g of parts) cedar.preparsePolicySet(g.setId, { staticPolicies: {} });
    this.#groups.clear();
  }

  /** Frees the pre-parsed sets; the index must not be used afterwards. */
  dispose(): void {
    this.#disposeGroups();
  }
}

type ContextField = (i: EvalInput) => cedar.CedarValueJson | undefined;

/** Each context field of the schema, computed only when a statement reads it. */
const CONTEXT_FIELDS: Readonly<Record<string, ContextField>> = {
  resource: (i) => i.resource ?? "",
  tier: (i) => i.tier ?? -1,
  capabilities: (i) => i.capabilities as string[],
  isolation: (i) => i.isolation ?? "",
  now: (i) => i.now,
  hour: (i) => new Date(i.now).getUTCHours(),
  weekday: (i) => new Date(i.now).getUTCDay(),
  network: (i) => i.context.network === true || (i.context.network_config as { enabled?: unknown } | undefined)?.enabled === true,
  mounts: (i) => (Array.isArray(i.context.mounts) ? i.context.mounts.length : 0),
  resources: (i) => {
    const r = i.resources;
    if (!r) return undefined;
    return {
      memory_mb: Math.round(r.memory_mb ?? 0),
      cpu_millicores: Math.round((r.cpu_cores ?? 0) * 1000),
      disk_io_mbps: Math.round(r.disk_io_mbps ?? 0),
      network_io_mbps: Math.round(r.network_io_mbps ?? 0),
      execution_timeout: Math.round(r.execution_timeout ?? 0),
      idle_timeout: Math.round(r.idle_timeout ?? 0),
    };
  },
};
const ALL_CONTEXT_FIELDS = Object.keys(CONTEXT_FIELDS);

function cedarContext(i: EvalInput, uses: CedarUses): cedar.Context {
  const ctx: cedar.Context = {};
  for (const name of uses.opaque ? ALL_CONTEXT_FIELDS : uses.context) {
    const v = Object.hasOwn(CONTEXT_FIELDS, name) ? CONTEXT_FIELDS[name]?.(i) : undefined;
    if (v !== undefined) ctx[name] = v;
  }
  return ctx;
}

/** The principal's attributes and tags that `uses` reads; null when the statements read none. */
function principalEntity(i: EvalInput, uses: CedarUses): Omit<cedar.EntityJson, "uid" | "parents"> | null {
  const all = uses.opaque;
  if (!all && !uses.tags && uses.principal.size === 0) return null;
  const attrs: Record<string, cedar.CedarValueJson> = {};
  if (all || uses.principal.has("name")) attrs.name = i.agentName ?? "";
  if (all || uses.principal.has("tier")) attrs.tier = i.tier ?? -1;
  if (all || uses.principal.has("capabilities")) attrs.capabilities = i.capabilities as string[];
  return all || uses.tags ? { attrs, tags: i.metadata } : { attrs };
}
