/**
 * Policy blocks as runtime `Policy` objects, and their enforcement. A rule's expression names the action
 * (`deny: network_access`, `allow: message.send`, `audit: tool.call if resource == "shell"`); well-known
 * names expand to the dotted actions the runtime checks. `withDslPolicies` puts an agent's own rules in
 * front of the runtime's Authorizer, so a `deny` written in the file blocks the effect even before the
 * policy engine has loaded it.
 *
 * Semantics, per matching rule: `deny` refuses (when its condition holds); `require` refuses unless its
 * condition holds (without a condition it only records the requirement); `audit` lets the action through
 * and emits `dsl.policy_audited`; `allow` does not override a refusal by the runtime's authorizer.
 */
import type { Authorizer, AuthorizationRequest, Decision } from "../core/authorizer.js";
import type { EventStream } from "../core/events.js";
import type { AgentId } from "../core/ids.js";
import type { Policy, PolicyRule } from "../core/types.js";
import type { Expr, PolicyBlock, Span } from "./ast.js";
import { Interpreter } from "./interpreter.js";
import { parseExpression } from "./parser.js";
import { DslLimit, DslThrow, fromPlain, truthy, type Value } from "./runtime-values.js";
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

/** Compiles one policy block; problems go to `err` with the rule's span. */
export function compilePolicy(block: PolicyBlock, id: string, err: (span: Span, message: string) => void): Policy {
  const rules: PolicyRule[] = [];
  for (const r of block.rules) {
    const actions = actionsOf(r.expr);
    if (!actions) {
      err(r.expr.span, `policy '${block.name}': a rule names an action (a name, a dotted name, a call such as read(x), a string or a list), found '${exprText(r.expr)}'`);
      continue;
    }
    const condition = r.condition ? exprText(r.condition) : undefined;
    for (const action of actions) {
      rules.push({
        effect: r.effect,
        action,
        ...(condition !== undefined ? { condition } : {}),
        description: `${r.effect}: ${exprText(r.expr)}${condition !== undefined ? ` if ${condition}` : ""}`,
      });
    }
  }
  return { id, name: block.name, description: `policy ${block.name} of ${id.split(".")[0]}`, rules, priority: 0, enabled: true };
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

/**
 * Evaluates a rule's condition with the request in scope: `action`, `resource`, `agent` and every
 * `context` field. A condition that cannot be evaluated counts as true for `deny` (closed) and false for
 * `require` (closed too).
 */
function conditionHolds(text: string, request: AuthorizationRequest, failClosedTo: boolean): boolean {
  const { expr } = parseExpression(text);
  if (!expr) return failClosedTo;
  const bindings: Record<string, Value> = {
    ...(Object.fromEntries(Object.entries(request.context ?? {}).map(([k, v]) => [k, fromPlain(v)])) as Record<string, Value>),
    action: request.action,
    resource: request.resource ?? null,
    agent: request.agent_id ?? null,
  };
  const it = new Interpreter({ kind: "Program", items: [], comments: [], span: expr.span }, [], {
    call() {
      throw new DslThrow("policy conditions cannot call the host", "PolicyError", undefined);
    },
  }, { maxSteps: 10_000, maxDepth: 16 });
  try {
    return truthy(it.run({ kind: "Block", stmts: [], tail: expr, span: expr.span }, bindings));
  } catch (e) {
    if (e instanceof DslThrow || e instanceof DslLimit) return failClosedTo;
    throw e;
  }
}

/** Decides `request` against one agent's compiled policies alone; `undefined` when no rule objects. */
export function decideByPolicies(policies: readonly Policy[], request: AuthorizationRequest, events?: EventStream): Decision | undefined {
  for (const p of policies) {
    if (!p.enabled) continue;
    for (const rule of p.rules) {
      if (!actionMatches(rule.action, request.action)) continue;
      const label = rule.description ?? `${rule.effect}: ${rule.action}`;
      if (rule.effect === "deny" && (rule.condition === undefined || conditionHolds(rule.condition, request, true))) {
        return { allowed: false, policy_id: p.id, reason: `denied by the agent's policy '${p.name}' (${label})` };
      }
      if (rule.effect === "require" && rule.condition !== undefined && !conditionHolds(rule.condition, request, false)) {
        return { allowed: false, policy_id: p.id, reason: `requirement of policy '${p.name}' not met (${label})` };
      }
      if (rule.effect === "audit" && (rule.condition === undefined || conditionHolds(rule.condition, request, true))) {
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
export function withDslPolicies(base: Authorizer, policies: readonly Policy[], events?: EventStream): Authorizer {
  if (policies.length === 0) return base;
  return {
    async check(request) {
      return decideByPolicies(policies, request, events) ?? base.check(request);
    },
  };
}
