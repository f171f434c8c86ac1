/**
 * The one authorization hook every enforcement point calls before an effect happens (send a message, create
 * a sandbox, run a command, allocate resources, ...). The policy engine supplies the real implementation;
 * until it is wired, `BuiltinAuthorizer` denies network and host mounts and allows the rest, so every
 * enforcement point exists from day one.
 */
import { PolicyError } from "./errors.js";
import type { EventStream } from "./events.js";
import type { AgentId } from "./ids.js";

/**
 * Dotted verbs naming what is about to happen: `agent.create`, `agent.update`, `message.send`,
 * `message.subscribe`, `sandbox.create`, `sandbox.exec`, `sandbox.network`, `sandbox.mount`, `file.upload`,
 * `file.download`, `resource.allocate`, `tool.call`, ...
 */
export type AuthorizationAction = string;

export interface AuthorizationRequest {
  readonly agent_id?: AgentId;
  readonly action: AuthorizationAction;
  /** What the action is applied to: a topic, a path, a command, a recipient id. */
  readonly resource?: string;
  readonly context?: Readonly<Record<string, unknown>>;
}

export interface Decision {
  readonly allowed: boolean;
  readonly policy_id?: string;
  readonly reason?: string;
}

export interface Authorizer {
  check(request: AuthorizationRequest): Promise<Decision>;
}

declare module "./events.js" {
  interface RuntimeEventMap {
    "policy.denied": {
      agent_id?: AgentId;
      action: AuthorizationAction;
      resource?: string;
      policy_id?: string;
      reason: string;
    };
  }
}

/** Actions the built-in default refuses: anything reaching outside the sandbox. */
const DEFAULT_DENIED = new Set(["sandbox.network", "sandbox.mount"]);

export class BuiltinAuthorizer implements Authorizer {
  async check(request: AuthorizationRequest): Promise<Decision> {
    if (DEFAULT_DENIED.has(request.action)) {
      return { allowed: false, policy_id: "builtin-default", reason: `${request.action} is denied by default` };
    }
    return { allowed: true, policy_id: "builtin-default" };
  }
}

/**
 * Asks the authorizer and throws `POLICY_DENIED` (after emitting `policy.denied`) when the answer is no.
 * Enforcement points call this rather than `check` so that every denial is handled the same way.
 */
export async function authorize(
  authorizer: Authorizer,
  events: EventStream,
  request: AuthorizationRequest,
): Promise<void> {
  enforce(events, request, await authorizer.check(request));
}

/**
 * `authorize` after the decision is in: throws `POLICY_DENIED` (after emitting `policy.denied`) when it is
 * no. For hot paths that await the authorizer themselves rather than through one more async call.
 */
export function enforce(events: EventStream, request: AuthorizationRequest, decision: Decision): void {
  if (decision.allowed) return;
  const reason = decision.reason ?? "denied by policy";
  events.emit("policy.denied", {
    ...(request.agent_id ? { agent_id: request.agent_id } : {}),
    action: request.action,
    ...(request.resource !== undefined ? { resource: request.resource } : {}),
    ...(decision.policy_id ? { policy_id: decision.policy_id } : {}),
    reason,
  });
  throw new PolicyError("POLICY_DENIED", `${request.action} denied: ${reason}`, {
    details: {
      action: request.action,
      ...(request.agent_id ? { agent_id: request.agent_id } : {}),
      ...(request.resource !== undefined ? { resource: request.resource } : {}),
      ...(decision.policy_id ? { policy_id: decision.policy_id } : {}),
      reason,
    },
  });
}
