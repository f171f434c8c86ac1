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
 * pre-parsed once into the wasm module, so a decision parses nothing.
 */
import * as cedar from "@cedar-policy/cedar-wasm/nodejs";
import type { DetailedError } from "@cedar-policy/cedar-wasm/nodejs";
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
    return { id: ids[i] as string, policyId, index: i, text: p, effect: json.json.effect, actions };
  });
}

export interface CedarOutcome {
  readonly decision: "allow" | "deny" | null;
  /** The statements that determined the decision (satisfied permits, or satisfied forbids). */
  readonly determining: readonly CedarStatement[];
  readonly errors: readonly string[];
}

interface Group {
  readonly setId: string;
  readonly byId: ReadonlyMap<string, CedarStatement>;
  readonly needsEntity: boolean;
}

const USES_PRINCIPAL = /principal\s*(\.|has\b|in\b)/;
const NONE: CedarOutcome = { decision: null, determining: [], errors: [] };

/**
 * One installed, immutable set of Cedar statements. Pre-parsed sets live in the wasm module under ids unique
 * to this index; `dispose()` empties them once a newer index replaced this one.
 */
export class CedarIndex {
  readonly #prefix: string;
  readonly #byAction = new Map<string, CedarStatement[]>();
  readonly #all: CedarStatement[] = [];
  readonly #groups = new Map<string, Group | null>();
  readonly size: number;

  constructor(prefix: string, statements: readonly CedarStatement[]) {
    this.#prefix = prefix;
    this.size = statements.length;
    for (const s of statements) {
      if (s.actions === null) this.#all.push(s);
      else for (const a of s.actions) (this.#byAction.get(a) ?? this.#byAction.set(a, []).get(a)!).push(s);
    }
  }

  #group(action: string): Group | null {
    let g = this.#groups.get(action);
    if (g !== undefined) return g;
    const stmts = [...(this.#byAction.get(action) ?? []), ...this.#all];
    if (stmts.length === 0) g = null;
    else {
      const setId = `${this.#prefix}:${this.#groups.size}`;
      const res = cedar.preparsePolicySet(setId, { staticPolicies: Object.fromEntries(stmts.map((s) => [s.id, s.text])) });
      if (res.type === "failure") throw new Error(`Cedar pre-parse failed: ${res.errors.map((e) => e.message).join("; ")}`);
      g = { setId, byId: new Map(stmts.map((s) => [s.id, s])), needsEntity: stmts.some((s) => USES_PRINCIPAL.test(s.text)) };
    }
    // Action names come from enforcement points (a small fixed vocabulary); the bound guards against misuse.
    if (this.#groups.size >= 4096) this.#disposeGroups();
    this.#groups.set(action, g);
    return g;
  }

  evaluate(input: EvalInput): CedarOutcome {
    if (this.size === 0) return NONE;
    const g = this.#group(input.action);
    if (!g) return NONE;
    const principal = { type: "Symbiont::Agent", id: input.agentId ?? "anonymous" };
    const answer = cedar.statefulIsAuthorized({
      principal,
      action: { type: "Symbiont::Action", id: input.action },
      resource: { type: "Symbiont::Resource", id: input.resource ?? "" },
      context: cedarContext(input),
      preparsedPolicySetId: g.setId,
      entities: g.needsEntity
        ? [{ uid: principal, attrs: { name: input.agentName ?? "", tier: input.tier ?? -1, capabilities: input.capabilities as string[] }, parents: [], tags: input.metadata }]
        : [],
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
    for (const g of this.#groups.values()) if (g) cedar.preparsePolicySet(g.setId, { staticPolicies: {} });
    this.#groups.clear();
  }

  /** Frees the pre-parsed sets; the index must not be used afterwards. */
  dispose(): void {
    this.#disposeGroups();
  }
}

function cedarContext(i: EvalInput): Record<string, cedar.CedarValueJson> {
  const d = new Date(i.now);
  const c = i.context;
  const networkConfig = c.network_config as { enabled?: unknown } | undefined;
  const ctx: Record<string, cedar.CedarValueJson> = {
    resource: i.resource ?? "",
    tier: i.tier ?? -1,
    capabilities: i.capabilities as string[],
    isolation: i.isolation ?? "",
    now: i.now,
    hour: d.getUTCHours(),
    weekday: d.getUTCDay(),
    network: c.network === true || networkConfig?.enabled === true,
    mounts: Array.isArray(c.mounts) ? c.mounts.length : 0,
  };
  const r = i.resources;
  if (r) {
    ctx.resources = {
      memory_mb: Math.round(r.memory_mb ?? 0),
      cpu_millicores: Math.round((r.cpu_cores ?? 0) * 1000),
      disk_io_mbps: Math.round(r.disk_io_mbps ?? 0),
      network_io_mbps: Math.round(r.network_io_mbps ?? 0),
      execution_timeout: Math.round(r.execution_timeout ?? 0),
      idle_timeout: Math.round(r.idle_timeout ?? 0),
    };
  }
  return ctx;
}
