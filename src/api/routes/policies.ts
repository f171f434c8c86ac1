/**
 * Runtime-wide policies (admin keys only): CRUD in the built-in rule language or Cedar, and evaluation
 * against a context. Every write goes through the engine's `updatePolicy`, which compiles before it persists,
 * so a bad policy is 400 POLICY_INVALID with each problem's field, line and column and the previous version
 * stays in force.
 */
import { randomUUID } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { PolicyError } from "../../core/errors.js";
import { policyRuleSchema, policySchema, resourceLimitsSchema, securityTierSchema } from "../../core/schemas.js";
import type { Policy } from "../../core/types.js";
import type { PolicyContext } from "../../policy/index.js";
import { route, type ApiContext } from "../context.js";
import { agentIdString } from "../route.js";
import { agentIdParam } from "../wire.js";

/** Policy ids appear in paths, so new ones keep to URL-safe characters. */
const policyId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, "letters, digits and . _ : - (at most 128)");

const { name, description, rules, priority, enabled, cedar } = policySchema.shape;

export const createPolicyBodySchema = z.object({ id: policyId.optional(), name, description, rules, priority, enabled, cedar }).strict();
/** Without the create defaults: a field left out keeps its current value. */
export const updatePolicyBodySchema = z
  .object({ name, description: description.unwrap(), rules: rules.unwrap(), priority: priority.unwrap(), enabled: enabled.unwrap(), cedar: cedar.unwrap() })
  .partial()
  .strict();

export const policyWire = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  priority: z.number().int(),
  enabled: z.boolean(),
  language: z.enum(["rules", "cedar"]),
  rules: z.array(policyRuleSchema),
  cedar: z.string().nullable(),
});

export const policyContextWire = z
  .object({
    agent_id: agentIdString,
    operation: z.string().min(1).max(256).describe("the action, e.g. message.send, sandbox.network"),
    resource: z.string().max(4096).optional().describe("a topic, path, command or recipient"),
    security_tier: securityTierSchema.optional().describe("evaluate as if the agent ran at this tier"),
    metadata: z.record(z.string().min(1).max(128), z.string().max(4096)).optional().describe("merged over the agent's metadata"),
    resource_requirements: resourceLimitsSchema.partial().optional().describe("merged over the agent's resource limits"),
  })
  .strict();

const evaluateBodySchema = z.object({ context: policyContextWire }).strict();

const decisionWire = z.object({
  decision: z.enum(["allow", "deny", "not_applicable"]),
  allowed: z.boolean(),
  policy_id: z.string(),
  matched_rules: z.array(
    z.object({
      policy_id: z.string(),
      rule_index: z.number().int(),
      effect: z.string(),
      action: z.string(),
      condition: z.string().optional(),
      description: z.string().optional(),
    }),
  ),
  reasons: z.array(z.string()),
  audit: z.boolean(),
});

const idParams = z.object({ id: z.string().min(1).max(128) });

function toWire(p: Policy): z.infer<typeof policyWire> {
  return {
    id: p.id,
    name: p.name,
    description: p.description,
    priority: p.priority,
    enabled: p.enabled,
    language: p.cedar !== undefined ? "cedar" : "rules",
    rules: p.rules.map((r) => ({ ...r })),
    cedar: p.cedar ?? null,
  };
}

/** A partial update over `current`: giving Cedar text drops the rules, giving rules drops the Cedar text. */
function merged(current: Policy, body: z.output<typeof updatePolicyBodySchema>): Policy {
  const { cedar: _cedar, ...withoutCedar } = current;
  const base: Policy = body.rules !== undefined && body.cedar === undefined ? withoutCedar : current;
  return { ...base, ...body, rules: body.rules ?? (body.cedar !== undefined ? [] : current.rules), id: current.id };
}

export function policyRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const { policy: engine, lifecycle, config } = ctx.runtime;
  // Create-if-absent and read-modify-write must not interleave with another write through the API.
  let writes: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = writes.then(fn);
    writes = run.catch(() => undefined);
    return run;
  };

  async function contextOf(wire: z.output<typeof policyContextWire>): Promise<PolicyContext> {
    const agent = await lifecycle.getAgent(agentIdParam(wire.agent_id));
    return {
      agent_id: agent.id,
      operation: wire.operation,
      ...(wire.resource !== undefined ? { resource: wire.resource } : {}),
      ...(wire.security_tier !== undefined ? { security_context: { tier: wire.security_tier } } : {}),
      ...(wire.metadata !== undefined ? { metadata: wire.metadata } : {}),
      ...(wire.resource_requirements !== undefined ? { resource_requirements: { ...agent.config.resource_limits, ...wire.resource_requirements } } : {}),
    };
  }

  route(app, ctx, {
    method: "GET",
    url: "/policies",
    tag: "policies",
    access: "admin",
    summary: "Runtime-wide policies, highest priority first",
    description: "`enforced` is false when policy.enabled is off: the runtime then decides with its built-in defaults and these policies only evaluate.",
    response: z.object({ policies: z.array(policyWire), enforced: z.boolean() }),
    handler: async () => ({ policies: (await engine.listPolicies()).map(toWire), enforced: config.policy.enabled }),
  });

  route(app, ctx, {
    method: "POST",
    url: "/policies",
    tag: "policies",
    access: "admin",
    summary: "Create a policy (built-in rules or Cedar text); a malformed one is 400 POLICY_INVALID with positions",
    body: createPolicyBodySchema,
    status: 201,
    response: policyWire,
    handler: ({ body }) =>
      serial(async () => {
        const id = body.id ?? randomUUID();
        const exists = await engine.getPolicy(id).then(
          () => true,
          () => false,
        );
        if (exists) throw new PolicyError("POLICY_ALREADY_EXISTS", `A policy with id ${id} already exists`, { details: { policy_id: id } });
        await engine.updatePolicy({ ...body, id });
        return toWire(await engine.getPolicy(id));
      }),
  });

  route(app, ctx, {
    method: "GET",
    url: "/policies/:id",
    tag: "policies",
    access: "admin",
    summary: "One policy",
    params: idParams,
    response: policyWire,
    handler: async ({ params }) => toWire(await engine.getPolicy(params.id)),
  });

  route(app, ctx, {
    method: "PUT",
    url: "/policies/:id",
    tag: "policies",
    access: "admin",
    summary: "Update a policy (any subset of its fields); a malformed result is refused and the old version stays",
    params: idParams,
    body: updatePolicyBodySchema,
    response: policyWire,
    handler: ({ params, body }) =>
      serial(async () => {
        await engine.updatePolicy(merged(await engine.getPolicy(params.id), body));
        return toWire(await engine.getPolicy(params.id));
      }),
  });

  route(app, ctx, {
    method: "DELETE",
    url: "/policies/:id",
    tag: "policies",
    access: "admin",
    summary: "Delete a policy (it stops applying at once)",
    params: idParams,
    response: z.object({ id: z.string(), status: z.literal("deleted") }),
    handler: ({ params }) =>
      serial(async () => {
        await engine.deletePolicy(params.id);
        return { id: params.id, status: "deleted" as const };
      }),
  });

  route(app, ctx, {
    method: "POST",
    url: "/policies/:id/evaluate",
    tag: "policies",
    access: "admin",
    summary: "Evaluate one policy on its own against a context",
    params: idParams,
    body: evaluateBodySchema,
    response: decisionWire,
    handler: async ({ params, body }) => engine.evaluatePolicy(params.id, await contextOf(body.context)),
  });

  route(app, ctx, {
    method: "POST",
    url: "/policies/evaluate",
    tag: "policies",
    access: "admin",
    summary: "The decision every applicable policy (runtime-wide, the agent's own, then defaults) gives a context",
    body: evaluateBodySchema,
    response: decisionWire,
    handler: async ({ body }) => {
      const context = await contextOf(body.context);
      return engine.explain(context.agent_id, context.operation, context);
    },
  });
}
