/**
 * DefaultPolicyEngine: the runtime's policy engine and its `Authorizer`. Runtime-wide policies live in a
 * PolicyStore and are compiled into an immutable RuleSet; an agent's own policies (AgentConfig.policies) are
 * compiled once per config and apply to that agent only. Updates are serialized, persisted, then installed by
 * swapping the RuleSet in one step.
 */
import { randomUUID } from "node:crypto";
import type { AuthorizationRequest, Decision } from "../core/authorizer.js";
import type { Clock } from "../core/clock.js";
import type { PolicyConfig } from "../core/config/index.js";
import { PolicyError } from "../core/errors.js";
import type { EventStream } from "../core/events.js";
import type { AgentId } from "../core/ids.js";
import type { Logger } from "../core/logger.js";
import type { AgentConfig, Policy } from "../core/types.js";
import { cedarSchema } from "./cedar.js";
import { byPriority, compilePolicy } from "./compile.js";
import { sensitiveReason, type SensitivityOptions } from "./defaults.js";
import { policyNotFound } from "./errors.js";
import { agentFields, limitsRecord, tierRank, type AgentFields, type EvalInput } from "./input.js";
import { matchedRules, newVerdict, RuleSet, type Verdict } from "./rule-set.js";
import type { AgentDirectory, PolicyContext, PolicyDecision, PolicyEngine, PolicyStore, PolicyValidationResult } from "./types.js";
import { validateConfig } from "./validate-config.js";

declare module "../core/events.js" {
  interface RuntimeEventMap {
    "policy.updated": { policy_id: string };
    "policy.deleted": { policy_id: string };
    /** An `audit` rule matched an allowed operation: the audit trail records it. */
    "policy.audited": { agent_id?: AgentId; action: string; resource?: string; policy_id: string; reason: string };
  }
}

export interface PolicyEngineDeps {
  readonly config: PolicyConfig;
  readonly clock: Clock;
  readonly events: EventStream;
  readonly logger: Logger;
  readonly store: PolicyStore;
  /** Looks up agents named only by id in a request; without it such requests carry no agent attributes. */
  readonly agents?: AgentDirectory;
}

interface Outcome extends Decision {
  readonly policy_id: string;
  readonly verdict: Verdict;
}

const EMPTY: Readonly<Record<string, unknown>> = Object.freeze({});

function isAgentConfig(v: unknown): v is AgentConfig {
  return typeof v === "object" && v !== null && typeof (v as AgentConfig).security_tier === "string" && Array.isArray((v as AgentConfig).capabilities);
}

export class DefaultPolicyEngine implements PolicyEngine {
  readonly #config: PolicyConfig;
  readonly #clock: Clock;
  readonly #events: EventStream;
  readonly #logger: Logger;
  readonly #store: PolicyStore;
  readonly #agents: AgentDirectory | undefined;
  readonly #schema: string;
  readonly #sensitivity: SensitivityOptions;
  readonly #id = randomUUID();
  #generation = 0;
  #set: RuleSet;
  #updates: Promise<unknown> = Promise.resolve();
  readonly #fields = new WeakMap<AgentConfig, AgentFields>();
  readonly #own = new Map<string, { config: AgentConfig; rules: RuleSet | PolicyError }>();
  readonly #unsubscribe: () => void;
  #closed = false;

  /** Use `createPolicyEngine`, which loads the stored policies first. */
  constructor(deps: PolicyEngineDeps, stored: readonly Policy[] = []) {
    this.#config = deps.config;
    this.#clock = deps.clock;
    this.#events = deps.events;
    this.#logger = deps.logger.child({ component: "policy" });
    this.#store = deps.store;
    this.#agents = deps.agents;
    this.#schema = cedarSchema(deps.config.extra_actions);
    this.#sensitivity = { workspaceRoot: deps.config.workspace_root, networkMinTier: deps.config.network_min_tier };
    // A stored policy that no longer compiles stops start-up: running without it would silently open access.
    this.#set = new RuleSet(stored.map((p) => compilePolicy(p, this.#schema)), this.#nextPrefix());
    this.#unsubscribe = this.#events.on("agent.removed", (e) => this.#dropOwn(e.agent_id));
  }

  #nextPrefix(): string {
    return `symbiont-${this.#id}-${this.#generation++}`;
  }

  // ---- Authorizer ----

  async check(request: AuthorizationRequest): Promise<Decision> {
    const ctx = request.context ?? EMPTY;
    let agent = isAgentConfig(ctx.config) ? ctx.config : undefined;
    if (!agent && request.agent_id && this.#agents) agent = await this.#agents.getAgentConfig(request.agent_id);
    const limits = ctx.resource_limits ?? ctx.limits;
    const input = this.#input(request.agent_id ?? null, request.action, request.resource ?? null, agent, ctx, typeof limits === "object" && limits !== null ? (limits as Record<string, number>) : undefined);
    const out = this.#decide(input, agent, false);
    if (out.allowed && out.verdict.audit) {
      this.#events.emit("policy.audited", {
        ...(request.agent_id ? { agent_id: request.agent_id } : {}),
        action: request.action,
        ...(request.resource !== undefined ? { resource: request.resource } : {}),
        policy_id: out.policy_id,
        reason: out.reason ?? "audited",
      });
    }
    return out.allowed ? { allowed: true, policy_id: out.policy_id } : { allowed: false, policy_id: out.policy_id, ...(out.reason ? { reason: out.reason } : {}) };
  }

  // ---- the spec's methods ----

  async validateAgentConfig(config: AgentConfig): Promise<PolicyValidationResult> {
    // An agent whose own policies do not compile is reported for that once, then judged without them.
    const own = config.policies.length > 0 && this.#ownRules(config) instanceof PolicyError ? { ...config, policies: [] } : config;
    const violations = validateConfig(config, {
      config: this.#config,
      decide: (input) => this.#decide(input, own, true),
      compileOwn: (p) => void compilePolicy(p, this.#schema),
      baseInput: (c) => this.#input(c.id, "agent.create", c.name, c, { config: c }),
    });
    return { valid: violations.length === 0, violations };
  }

  async checkOperationAllowed(agentId: AgentId, operation: string, context: PolicyContext): Promise<boolean> {
    return (await this.#fromContext(agentId, operation, context)).allowed;
  }

  async getAgentPolicies(agentId: AgentId): Promise<Policy[]> {
    const own = (await this.#agents?.getAgentConfig(agentId))?.policies ?? [];
    return [...this.#set.policies.map((p) => p.policy), ...own.filter((p) => p.enabled)].sort(byPriority);
  }

  updatePolicy(policy: Policy): Promise<void> {
    return this.#serialize(async () => {
      const compiled = compilePolicy(policy, this.#schema);
      await this.#store.put(compiled.policy);
      const others = this.#set.all().filter((p) => p.policy.id !== compiled.policy.id);
      this.#install(new RuleSet([...others, compiled], this.#nextPrefix()));
      this.#logger.info({ policy_id: compiled.policy.id, enabled: compiled.policy.enabled }, "policy installed");
      this.#events.emit("policy.updated", { policy_id: compiled.policy.id });
    });
  }

  deletePolicy(policyId: string): Promise<void> {
    return this.#serialize(async () => {
      if (!this.#set.get(policyId)) throw policyNotFound(policyId);
      await this.#store.delete(policyId);
      this.#install(new RuleSet(this.#set.all().filter((p) => p.policy.id !== policyId), this.#nextPrefix()));
      this.#logger.info({ policy_id: policyId }, "policy deleted");
      this.#events.emit("policy.deleted", { policy_id: policyId });
    });
  }

  /** One policy's decision: an installed policy, or else one of `context.agent_id`'s own. */
  async evaluatePolicy(policyId: string, context: PolicyContext): Promise<PolicyDecision> {
    const set = (await this.#holder(policyId, context.agent_id)).set;
    const input = await this.#contextInput(context.agent_id, context.operation, context);
    const v = newVerdict();
    set.evaluateOne(policyId, input, v);
    return this.#report(this.#resolve(v, input));
  }

  async listPolicies(): Promise<Policy[]> {
    return this.#set.all().map((p) => p.policy);
  }

  /** An installed policy, or else (given an agent) one of the agent's own. */
  async getPolicy(policyId: string, agentId?: AgentId): Promise<Policy> {
    return (await this.#holder(policyId, agentId)).policy;
  }

  /** The rule set holding `policyId`: the installed one, else the agent's own; POLICY_NOT_FOUND otherwise. */
  async #holder(policyId: string, agentId: AgentId | undefined): Promise<{ set: RuleSet; policy: Policy }> {
    const installed = this.#set.get(policyId);
    if (installed) return { set: this.#set, policy: installed.policy };
    const agent = agentId === undefined ? undefined : await this.#agents?.getAgentConfig(agentId);
    const own = agent && agent.policies.length > 0 ? this.#ownRules(agent) : undefined;
    const found = own instanceof RuleSet ? own.get(policyId) : undefined;
    if (!found) throw policyNotFound(policyId);
    return { set: own as RuleSet, policy: found.policy };
  }

  /** The full decision of every applicable policy (for the API and for explaining a denial). */
  async explain(agentId: AgentId, operation: string, context: PolicyContext): Promise<PolicyDecision> {
    return this.#report(await this.#fromContext(agentId, operation, context));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe();
    await this.#updates.catch(() => undefined);
    await this.#store.close();
  }

  // ---- internals ----

  #serialize(fn: () => Promise<void>): Promise<void> {
    if (this.#closed) return Promise.reject(new PolicyError("POLICY_STORE_UNAVAILABLE", "The policy engine is closed"));
    const run = this.#updates.then(fn);
    this.#updates = run.catch(() => undefined);
    return run;
  }

  #install(next: RuleSet): void {
    const prev = this.#set;
    this.#set = next;
    prev.dispose();
  }

  #dropOwn(agentId: string): void {
    const own = this.#own.get(agentId);
    if (own && own.rules instanceof RuleSet) own.rules.dispose();
    this.#own.delete(agentId);
  }

  #ownRules(agent: AgentConfig): RuleSet | PolicyError {
    const cached = this.#own.get(agent.id);
    if (cached?.config === agent) return cached.rules;
    this.#dropOwn(agent.id);
    let rules: RuleSet | PolicyError;
    try {
      rules = new RuleSet(agent.policies.map((p) => compilePolicy(p, this.#schema)), this.#nextPrefix());
    } catch (err) {
      if (!(err instanceof PolicyError)) throw err;
      rules = err;
    }
    this.#own.set(agent.id, { config: agent, rules });
    return rules;
  }

  #input(
    agentId: string | null,
    action: string,
    resource: string | null,
    agent: AgentConfig | undefined,
    context: Readonly<Record<string, unknown>>,
    limits?: Readonly<Record<string, number>>,
  ): EvalInput {
    let f = agent ? this.#fields.get(agent) : undefined;
    if (!f) {
      f = agentFields(agent);
      if (agent) this.#fields.set(agent, f);
    }
    return {
      action,
      resource,
      agentId: agentId ?? agent?.id ?? null,
      agentName: f.agentName,
      tier: f.tier,
      capabilities: f.capabilities,
      metadata: f.metadata,
      resources: limits ?? f.resources,
      isolation: typeof context.isolation_level === "string" ? context.isolation_level : null,
      context,
      now: this.#clock.now(),
      agent: f,
    };
  }

  async #contextInput(agentId: AgentId, operation: string, ctx: PolicyContext): Promise<EvalInput> {
    const agent = await this.#agents?.getAgentConfig(agentId);
    const base = this.#input(agentId, operation, ctx.resource ?? null, agent, EMPTY, limitsRecord(ctx.resource_requirements) ?? undefined);
    const tier = ctx.security_context ? tierRank(ctx.security_context.tier) : base.tier;
    return {
      ...base,
      tier,
      metadata: ctx.metadata ? { ...base.metadata, ...ctx.metadata } : base.metadata,
      isolation: ctx.security_context?.isolation_level ?? null,
    };
  }

  async #fromContext(agentId: AgentId, operation: string, ctx: PolicyContext): Promise<Outcome> {
    const input = await this.#contextInput(agentId, operation, ctx);
    return this.#decide(input, await this.#agents?.getAgentConfig(agentId), true);
  }

  /** Runtime-wide policies, then the agent's own, then defaults. Synchronous: one RuleSet per decision. */
  #decide(input: EvalInput, agent: AgentConfig | undefined, full: boolean): Outcome {
    const v = newVerdict();
    this.#set.evaluate(input, v, full);
    if (agent && agent.policies.length > 0 && (full || v.kind !== "deny")) {
      const own = this.#ownRules(agent);
      if (own instanceof RuleSet) own.evaluate(input, v, full);
      else if (v.kind !== "deny") Object.assign(v, { kind: "deny", policyId: String(own.details?.policy_id ?? "agent-policy"), reason: `the agent's own policy is invalid: ${own.message}` });
    }
    if (v.errors.length > 0) this.#logger.warn({ action: input.action, errors: v.errors }, "Cedar evaluation errors (the erroring statements were skipped)");
    return this.#resolve(v, input);
  }

  #resolve(v: Verdict, input: EvalInput): Outcome {
    if (v.kind === "deny") return { allowed: false, policy_id: v.policyId as string, reason: v.reason as string, verdict: v };
    if (v.kind === "allow") return { allowed: true, policy_id: v.policyId as string, reason: v.reason as string, verdict: v };
    const sensitive = sensitiveReason(input, this.#sensitivity);
    if (sensitive !== null) return { allowed: false, policy_id: "default-deny", reason: sensitive, verdict: v };
    if (this.#config.default_effect === "deny") return { allowed: false, policy_id: "default", reason: `no policy allows ${input.action}`, verdict: v };
    return { allowed: true, policy_id: "default", reason: `no policy speaks to ${input.action}`, verdict: v };
  }

  #report(out: Outcome): PolicyDecision {
    const { matched, reasons } = matchedRules(out.verdict);
    const kind = out.verdict.kind;
    return {
      decision: kind === "none" ? "not_applicable" : kind,
      allowed: out.allowed,
      policy_id: out.policy_id,
      matched_rules: matched,
      reasons: kind === "none" && out.reason ? [out.reason] : reasons,
      audit: out.verdict.audit,
    };
  }
}

/**
 * Builds the engine and installs every stored policy before returning.
 *
 * @example
 * const engine = await createPolicyEngine({ config: config.policy, clock, events, logger, store: await openSqlitePolicyStore(file) });
 * await engine.updatePolicy({ id: "no-net", name: "no network", description: "", priority: 10, enabled: true,
 *   rules: [{ effect: "deny", action: "sandbox.network", condition: "tier < Tier2" }] });
 */
export async function createPolicyEngine(deps: PolicyEngineDeps): Promise<DefaultPolicyEngine> {
  try {
    return new DefaultPolicyEngine(deps, await deps.store.load());
  } catch (err) {
    await deps.store.close().catch(() => undefined);
    throw err;
  }
}
