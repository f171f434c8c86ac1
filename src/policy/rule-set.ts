/**
 * An immutable, compiled set of policies and the decision procedure over it. The engine swaps whole sets on
 * update, so a decision (which runs synchronously from reading the set to its verdict) sees either the old or
 * the new set, never a mix.
 *
 * Semantics: any matching `deny` (or unmet `require`) denies, whatever its priority — deny overrides allow.
 * Policies are scanned highest priority first, so the reported denial is the highest-priority one and the
 * fast path stops at it. Otherwise a matching `allow` or `audit` allows (`audit` also marks the decision for
 * recording). When nothing matches the decision is `none` and the engine applies its defaults.
 */
import { CedarIndex, type CedarStatement } from "./cedar.js";
import { byPriority, specializeRules, type CompiledPolicy, type CompiledRule } from "./compile.js";
import type { AgentFields, EvalInput } from "./input.js";
import type { MatchedRule } from "./types.js";

/** A decision in progress; `hits` are kept as references so the fast path builds no report objects. */
export interface Verdict {
  kind: "allow" | "deny" | "none";
  policyId: string | null;
  priority: number;
  reason: string | null;
  audit: boolean;
  readonly hits: (CompiledRule | CedarStatement)[];
  readonly errors: string[];
}

export function newVerdict(): Verdict {
  return { kind: "none", policyId: null, priority: 0, reason: null, audit: false, hits: [], errors: [] };
}

function deny(v: Verdict, policyId: string, priority: number, reason: string): void {
  if (v.kind !== "deny" || priority > v.priority) {
    v.kind = "deny";
    v.policyId = policyId;
    v.priority = priority;
    v.reason = reason;
  }
}

function allow(v: Verdict, policyId: string, priority: number, reason: string): void {
  if (v.kind === "none" || (v.kind === "allow" && priority > v.priority)) {
    v.kind = "allow";
    v.policyId = policyId;
    v.priority = priority;
    v.reason = reason;
  }
}

/** Scans `rules` (already in priority order) into `v`; stops at the first denial unless `full`. */
function scan(rules: readonly CompiledRule[], input: EvalInput, v: Verdict, full: boolean): void {
  for (const r of rules) {
    // Without a report, an allow that cannot change the verdict (one already stands at this priority or
    // higher, or a denial does) is not worth evaluating; audits still are, for their mark.
    if (!full && r.effect === "allow" && (v.kind === "deny" || (v.kind === "allow" && r.priority <= v.priority))) continue;
    const res = r.pattern.resource;
    if (res !== null && (input.resource === null || !res.test(input.resource))) continue;
    const holds = r.condition === null || r.condition(input);
    if (r.effect === "require") {
      if (holds) continue;
      v.hits.push(r);
      deny(v, r.policyId, r.priority, `requirement not met: ${r.reason}`);
      if (!full) return;
    } else if (!holds) continue;
    else if (r.effect === "deny") {
      v.hits.push(r);
      deny(v, r.policyId, r.priority, `denied by ${r.reason}`);
      if (!full) return;
    } else {
      v.hits.push(r);
      if (r.effect === "audit") v.audit = true;
      allow(v, r.policyId, r.priority, `allowed by ${r.reason}`);
    }
  }
}

const CACHE_LIMIT = 4096;

export class RuleSet {
  /** Highest priority first. */
  readonly policies: readonly CompiledPolicy[];
  readonly #byId: ReadonlyMap<string, CompiledPolicy>;
  readonly #priority: ReadonlyMap<string, number>;
  readonly #cedar: CedarIndex;
  readonly #cedarPrefix: string;
  readonly #rulesByAction = new Map<string, CompiledRule[]>();
  readonly #single = new Map<string, CedarIndex>();
  /** Per agent, per action: the count of sightings, then (from the second) the specialised rules. */
  readonly #forAgent = new WeakMap<AgentFields, Map<string, readonly CompiledRule[] | number>>();

  constructor(policies: readonly CompiledPolicy[], cedarPrefix: string) {
    this.policies = [...policies].filter((p) => p.policy.enabled).sort((a, b) => byPriority(a.policy, b.policy));
    this.#byId = new Map(policies.map((p) => [p.policy.id, p]));
    this.#priority = new Map(policies.map((p) => [p.policy.id, p.policy.priority]));
    this.#cedarPrefix = cedarPrefix;
    this.#cedar = new CedarIndex(cedarPrefix, this.policies.flatMap((p) => p.cedar));
  }

  get(policyId: string): CompiledPolicy | undefined {
    return this.#byId.get(policyId);
  }

  /** Every installed policy, enabled or not. */
  all(): CompiledPolicy[] {
    return [...this.#byId.values()].sort((a, b) => byPriority(a.policy, b.policy));
  }

  #rulesFor(action: string): CompiledRule[] {
    let rules = this.#rulesByAction.get(action);
    if (rules) return rules;
    rules = [];
    for (const p of this.policies) {
      for (const r of p.rules) if (r.pattern.exact === action || (r.pattern.exact === null && r.pattern.action.test(action))) rules.push(r);
    }
    if (this.#rulesByAction.size >= CACHE_LIMIT) this.#rulesByAction.clear();
    this.#rulesByAction.set(action, rules);
    return rules;
  }

  /**
   * The rules for `input.action`, specialised for its agent while the input carries that agent's fields
   * unchanged. Built on the second sighting, so a caller that rebuilds its agent for every request pays
   * nothing for a specialisation it would never reuse.
   */
  #rules(input: EvalInput): readonly CompiledRule[] {
    const generic = this.#rulesFor(input.action);
    const f = input.agent;
    if (
      f === undefined || generic.length === 0 || f.tier !== input.tier || f.capabilities !== input.capabilities ||
      f.metadata !== input.metadata || f.resources !== input.resources || f.agentName !== input.agentName
    ) return generic;
    let byAction = this.#forAgent.get(f);
    if (!byAction) this.#forAgent.set(f, (byAction = new Map()));
    const seen = byAction.get(input.action);
    if (typeof seen === "object") return seen;
    if (byAction.size >= CACHE_LIMIT) byAction.clear();
    if (seen === undefined) {
      byAction.set(input.action, 1);
      return generic;
    }
    const rules = specializeRules(generic, input);
    byAction.set(input.action, rules);
    return rules;
  }

  /** Adds this set's opinion on `input` to `v`. */
  evaluate(input: EvalInput, v: Verdict, full: boolean): void {
    scan(this.#rules(input), input, v, full);
    if (v.kind === "deny" && !full) return;
    this.#applyCedar(this.#cedar.evaluate(input), v);
  }

  /** One policy on its own, enabled or not, with every matching rule reported. */
  evaluateOne(policyId: string, input: EvalInput, v: Verdict): void {
    const p = this.#byId.get(policyId);
    if (!p) return;
    const rules = p.rules.filter((r) => r.pattern.exact === input.action || (r.pattern.exact === null && r.pattern.action.test(input.action)));
    scan(rules, input, v, true);
    if (p.cedar.length === 0) return;
    let index = this.#single.get(policyId);
    if (!index) this.#single.set(policyId, (index = new CedarIndex(`${this.#cedarPrefix}/${policyId}`, p.cedar)));
    this.#applyCedar(index.evaluate(input), v);
  }

  #applyCedar(out: ReturnType<CedarIndex["evaluate"]>, v: Verdict): void {
    v.errors.push(...out.errors);
    if (out.decision === null) return;
    for (const s of out.determining) {
      v.hits.push(s);
      const priority = this.#priority.get(s.policyId) ?? 0;
      if (out.decision === "deny") deny(v, s.policyId, priority, `denied by Cedar policy ${s.policyId} statement ${s.index}`);
      else allow(v, s.policyId, priority, `allowed by Cedar policy ${s.policyId} statement ${s.index}`);
    }
  }

  /** Frees Cedar pre-parsed sets once this set has been replaced. */
  dispose(): void {
    this.#cedar.dispose();
    for (const i of this.#single.values()) i.dispose();
  }
}

/** The report form of a verdict's hits. */
export function matchedRules(v: Verdict): { matched: MatchedRule[]; reasons: string[] } {
  const matched: MatchedRule[] = [];
  const reasons: string[] = [];
  for (const h of v.hits) {
    if ("matched" in h) {
      matched.push(h.matched);
      reasons.push(`${h.effect === "require" ? "requirement not met" : h.effect}: ${h.reason}`);
    } else {
      matched.push({ policy_id: h.policyId, rule_index: h.index, effect: h.effect, action: h.actions?.join(", ") ?? "*" });
      reasons.push(`${h.effect}: Cedar policy ${h.policyId} statement ${h.index}`);
    }
  }
  return { matched, reasons };
}
