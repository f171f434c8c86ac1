/**
 * Turns a Policy into its compiled form once, when it is installed: rule patterns become RegExps, conditions
 * become closures, Cedar text becomes validated statements. Every problem in the policy is reported together.
 */
import { parseInput } from "../core/validation.js";
import { policySchema } from "../core/schemas.js";
import type { Policy, PolicyRule } from "../core/types.js";
import { parseCedarPolicy, type CedarStatement } from "./cedar.js";
import { compileCondition, specializeCondition } from "./condition.js";
import { invalidPolicy, PolicySyntaxError, type InvalidPolicyDetails } from "./errors.js";
import type { EvalInput } from "./input.js";
import { compileActionPattern, type ActionPattern } from "./pattern.js";
import type { MatchedRule } from "./types.js";

export interface CompiledRule {
  readonly policyId: string;
  readonly priority: number;
  readonly index: number;
  readonly effect: PolicyRule["effect"];
  readonly pattern: ActionPattern;
  readonly condition: ((input: EvalInput) => boolean) | null;
  /** What a decision reports when this rule matches (built once). */
  readonly matched: MatchedRule;
  readonly reason: string;
}

export interface CompiledPolicy {
  readonly policy: Policy;
  readonly rules: readonly CompiledRule[];
  readonly cedar: readonly CedarStatement[];
}

function describe(policy: Policy, rule: PolicyRule): string {
  const what = rule.description ?? `${rule.effect} ${rule.action}${rule.condition ? ` if ${rule.condition}` : ""}`;
  return `policy ${policy.id} (${policy.name}): ${what}`;
}

function compileRule(policy: Policy, rule: PolicyRule, index: number, problems: InvalidPolicyDetails[]): CompiledRule | null {
  let pattern: ActionPattern | null = null;
  let condition: ((input: EvalInput) => boolean) | null = null;
  try {
    pattern = compileActionPattern(rule.action);
  } catch (err) {
    if (!(err instanceof PolicySyntaxError)) throw err;
    problems.push({ field: `rules[${index}].action`, line: err.line, column: err.column, reason: err.reason });
  }
  if (rule.condition !== undefined && rule.condition.trim() !== "") {
    try {
      condition = compileCondition(rule.condition);
    } catch (err) {
      if (!(err instanceof PolicySyntaxError)) throw err;
      problems.push({ field: `rules[${index}].condition`, line: err.line, column: err.column, reason: err.reason });
    }
  }
  if (!pattern) return null;
  const matched: MatchedRule = {
    policy_id: policy.id,
    rule_index: index,
    effect: rule.effect,
    action: rule.action,
    ...(rule.condition !== undefined ? { condition: rule.condition } : {}),
    ...(rule.description !== undefined ? { description: rule.description } : {}),
  };
  return { policyId: policy.id, priority: policy.priority, index, effect: rule.effect, pattern, condition, matched, reason: describe(policy, rule) };
}

/**
 * Validates the policy's shape, then compiles every rule (or its Cedar text against `cedarSchema`); throws
 * POLICY_INVALID listing every bad rule with its position.
 */
export function compilePolicy(input: Policy, cedarSchema: string): CompiledPolicy {
  const policy = Object.freeze(parseInput(policySchema, input, "policy")) as Policy;
  if (policy.cedar !== undefined) {
    if (policy.rules.length > 0) throw invalidPolicy(policy.id, [{ field: "rules", reason: "a Cedar policy has no built-in rules" }]);
    return { policy, rules: [], cedar: parseCedarPolicy(policy.id, policy.cedar, cedarSchema) };
  }
  const problems: InvalidPolicyDetails[] = [];
  const rules = policy.rules.map((r, i) => compileRule(policy, r, i, problems));
  if (problems.length > 0) throw invalidPolicy(policy.id, problems);
  return { policy, rules: rules as CompiledRule[], cedar: [] };
}

const NEVER = (): boolean => false;

/**
 * `rules` with each condition specialised for the decisions where `fixed`'s action and agent fields hold:
 * rules that cannot match are dropped, a `require` that always holds is dropped, and one that never does
 * keeps a constant-false condition. Order and reports are unchanged.
 */
export function specializeRules(rules: readonly CompiledRule[], fixed: EvalInput): CompiledRule[] {
  const out: CompiledRule[] = [];
  for (const r of rules) {
    const source = r.matched.condition;
    if (r.condition === null || source === undefined) {
      out.push(r);
      continue;
    }
    const c = specializeCondition(source, fixed);
    if (typeof c === "function") out.push({ ...r, condition: c });
    else if (r.effect === "require") {
      if (!c) out.push({ ...r, condition: NEVER });
    } else if (c) out.push({ ...r, condition: null });
  }
  return out;
}

/** Highest priority first; equal priorities by id, so the order never depends on insertion. */
export function byPriority(a: Policy, b: Policy): number {
  return b.priority - a.priority || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}
