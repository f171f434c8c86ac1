/**
 * Policy blocks as runtime `Policy` objects, and their enforcement. A rule's expression names the action
 * (`deny: network_access`, `allow: message.send`, `audit: tool.call if resource == "shell"`); well-known
 * names expand to the dotted actions the runtime checks. Conditions are written in the policy engine's
 * condition language (the DSL's expression syntax); a name the engine does not know (`strict`, `role`) reads
 * the request's context (`context.strict`), so the same text is enforced by the engine and by the DSL host.
 * A condition or action the engine cannot compile is an extraction error at the rule.
 *
 * Semantics, per matching rule: `deny` refuses (when its condition holds); `require` refuses unless its
 * condition holds (without a condition it only records the requirement); `audit` lets the action through
 * and emits `dsl.policy_audited`; `allow` does not override a refusal by the runtime's authorizer.
 * `withDslPolicies` puts an agent's own rules in front of the runtime's Authorizer, so a `deny` written in
 * the file blocks the effect even where the policy engine does not know the agent (`symbiont run`).
 */
import type { Authorizer, AuthorizationRequest, Decision } from "../core/authorizer.js";
import type { Clock } from "../core/clock.js";
import type { EventStream } from "../core/events.js";
import type { AgentId } from "../core/ids.js";
import type { Policy, PolicyRule } from "../core/types.js";
import { CONDITION_NAMES, compileCondition } from "../policy/condition.js";
import { PolicySyntaxError } from "../policy/errors.js";
import type { EvalInput } from "../policy/input.js";
import { compileActionPattern } from "../policy/pattern.js";
import type { Expr, PolicyBlock, Span } from "./ast.js";
import { exprText } from "./values.js";

/** Names a policy may use for a family of runtime actions. */
export const ACTION_ALIASES: Readonly<Record<string, readonly string[]>> = {
  network_access: ["network.*", "sandbox.network"],
  network: ["network.*", "sandbox.network"],
  file_access: ["file.*"],
  filesystem_access: ["file.*"],
  tool_access: ["tool.call"],
  tool_calls: ["tool.call"],
  messaging: ["message.*"],
  llm_access: ["llm.call"],
  delegation: ["task.delegate"],
  spawn_agents: ["agent.spawn"],
  secret_access: ["secret.read"],
  all: ["*"],
};

function actionsOf(e: Expr): string[] | undefined {
  switch (e.kind) {
    case "Ident":
      return [...(ACTION_ALIASES[e.name] ?? [e.name])];
    case "Member": {
      const head = actionsOf(e.object);
      return head && head.length === 1 && e.object.kind !== "Call" ? [`${head[0]}.${e.name}`] : undefined;
    }
    case "Literal":
      return e.type === "string" && e.value.trim() !== "" ? [e.value] : undefined;
    case "Call":
      return actionsOf(e.callee);
    case "List": {
      const all = e.items.map(actionsOf);
      return all.every((x) => x !== undefined) ? all.flat() : undefined;
    }
    default:
      return undefined;
  }
}

/** The condition with every name the engine does not know read from the request's context. */
function engineCondition(e: Expr): Expr {
  switch (e.kind) {
    case "Ident":
      return CONDITION_NAMES.has(e.name) ? e : { kind: "Member", object: { kind: "Ident", name: "context", span: e.span }, name: e.name, span: e.span };
    case "Member":
      return { ...e, object: engineCondition(e.object) };
    case "Index":
      return { ...e, object: engineCondition(e.object), index: engineCondition(e.index) };
    case "Call":
      return { ...e, callee: e.callee.kind === "Ident" ? e.callee : engineCondition(e.callee), args: e.args.map((a) => ({ ...a, value: engineCondition(a.value) })) };
    case "Binary":
      return { ...e, left: engineCondition(e.left), right: engineCondition(e.right) };
    case "Unary":
      return { ...e, operand: engineCondition(e.operand) };
    case "List":
      return { ...e, items: e.items.map(engineCondition) };
    default:
      return e;
  }
}

/** Whether the policy engine accepts the rule; problems go to `err` at the rule (or its condition). */
function engineAccepts(policy: string, rule: PolicyRule, span: Span, conditionSpan: Span | undefined, err: (span: Span, message: string) => void): boolean {
  try {
    compileActionPattern(rule.action);
  } catch (e) {
    if (!(e instanceof PolicySyntaxError)) throw e;
    err(span, `policy '${policy}': '${rule.action}' is not a valid action: ${e.reason}`);
    return false;
  }
  if (rule.condition === undefined) return true;
  try {
    compileCondition(rule.condition);
  } catch (e) {
    if (!(e instanceof PolicySyntaxError)) throw e;
    err(conditionSpan ?? span, `policy '${policy}': the condition '${rule.condition}' is not a policy condition: ${e.reason}`);
    return false;
  }
  return true;
}

/** Compiles one policy block; problems go to `err` with the rule's span. */
export function compilePolicy(block: PolicyBlock, id: string, err: (span: Span, message: string) => void): Policy {
  const rules: PolicyRule[] = [];
  for (const r of block.rules) {
    const actions = actionsOf(r.expr);
    if (!actions) {
      err(r.expr.span, `policy '${block.name}': a rule names an action (a name, a dotted name, a call such as read(x), a string or a list), found '${exprText(r.expr)}'`);
      continue;
    }
    const condition = r.condition ? exprText(engineCondition(r.condition)) : undefined;
    for (const action of actions) {
      const rule: PolicyRule = {
        effect: r.effect,
        action,
        ...(condition !== undefined ? { condition } : {}),
        description: `${r.effect}: ${exprText(r.expr)}${r.condition ? ` if ${exprText(r.condition)}` : ""}`,
      };
      if (engineAccepts(block.name, rule, r.expr.span, r.condition?.span, err)) rules.push(rule);
    }
  }
  return { id, name: block.name, description: `policy ${block.name} of ${id.split(".")[0]}`, rules, priority: 0, enabled: true };
}

/**
 * The part of `policy` the policy engine enforces for the agent: its `deny` and `require` rules. In the
 * engine an agent's own `allow` or `audit` grants (past the engine's closed defaults), and a file must never
 * widen what the runtime permits; the DSL host applies `audit` itself.
 */
export function restrictions(policy: Policy): Policy | undefined {
  const rules = policy.rules.filter((r) => r.effect === "deny" || r.effect === "require");
  return rules.length > 0 ? { ...policy, rules } : undefined;
}

/** `*`, `net.*` and exact names. */
export function actionMatches(pattern: string, action: string): boolean {
  if (pattern === "*" || pattern === action) return true;
  return pattern.endsWith(".*") && action.startsWith(pattern.slice(0, -1));
}

declare module "../core/events.js" {
  interface RuntimeEventMap {
    "dsl.policy_audited": { agent_id?: AgentId; action: string; resource?: string; policy_id: string; rule: string };
  }
}

const compiled = new Map<string, ((input: EvalInput) => boolean) | null>();

/**
 * Evaluates a rule's condition with the policy engine's evaluator against the request (the agent's name
 * from `context.agent_name`). A condition that does not compile counts as true for `deny` (closed) and
 * false for `require` (closed too).
 */
function conditionHolds(text: string, request: AuthorizationRequest, now: number, failClosedTo: boolean): boolean {
  let cond = compiled.get(text);
  if (cond === undefined) {
    try {
      cond = compileCondition(text);
    } catch (e) {
      if (!(e instanceof PolicySyntaxError)) throw e;
      cond = null;
    }
    if (compiled.size >= 1024) compiled.clear();
    compiled.set(text, cond);
  }
  if (cond === null) return failClosedTo;
  const context = request.context ?? {};
  return cond({
    action: request.action,
    resource: request.resource ?? null,
    agentId: request.agent_id ?? null,
    agentName: typeof context.agent_name === "string" ? context.agent_name : null,
    tier: null,
    capabilities: [],
    metadata: {},
    resources: null,
    isolation: null,
    context,
    now,
  });
}

/** Decides `request` against one agent's compiled policies alone; `undefined` when no rule objects. */
export function decideByPolicies(policies: readonly Policy[], request: AuthorizationRequest, now: number, events?: EventStream): Decision | undefined {
  for (const p of policies) {
    if (!p.enabled) continue;
    for (const rule of p.rules) {
      if (!actionMatches(rule.action, request.action)) continue;
      const label = rule.description ?? `${rule.effect}: ${rule.action}`;
      if (rule.effect === "deny" && (rule.condition === undefined || conditionHolds(rule.condition, request, now, true))) {
        return { allowed: false, policy_id: p.id, reason: `denied by the agent's policy '${p.name}' (${label})` };
      }
      if (rule.effect === "require" && rule.condition !== undefined && !conditionHolds(rule.condition, request, now, false)) {
        return { allowed: false, policy_id: p.id, reason: `requirement of policy '${p.name}' not met (${label})` };
      }
      if (rule.effect === "audit" && (rule.condition === undefined || conditionHolds(rule.condition, request, now, true))) {
        events?.emit("dsl.policy_audited", {
          ...(request.agent_id ? { agent_id: request.agent_id } : {}),
          action: request.action,
          ...(request.resource !== undefined ? { resource: request.resource } : {}),
          policy_id: p.id,
          rule: label,
        });
      }
    }
  }
  return undefined;
}

/** An Authorizer that applies `policies` first and then asks `base`. */
export function withDslPolicies(base: Authorizer, policies: readonly Policy[], clock: Clock, events?: EventStream): Authorizer {
  if (policies.length === 0) return base;
  return {
    async check(request) {
      return decideByPolicies(policies, request, clock.now(), events) ?? base.check(request);
    },
  };
}
