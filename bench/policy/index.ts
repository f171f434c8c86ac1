/**
 * Policy decision costs with 100 policies × 10 rules: built-in rules (p50/p99 latency of `check`, decisions/s)
 * and the same shape written in Cedar (p50/p99). The same-run baseline is the floor any authorizer pays: an
 * awaited call that does a Map lookup and calls a function (what `BuiltinAuthorizer` amounts to).
 * Cedar outcomes are remembered per projected request, so `cedar_*` measures repeated requests (ten in
 * rotation), `cedar_new_resource_*` gives every call a resource never seen before (statements that read the
 * resource go to the wasm module, the agent's remembered outcome serves the rest), and `cedar_cold_*` gives
 * every call a new agent too, so all ~50 statements of the action go to the wasm module. CPU time per
 * decision sits beside the wall-clock figures.
 *
 * Run: `npm run bench -- policy`
 */
import { SystemClock } from "../../src/core/clock.js";
import { resolveConfig } from "../../src/core/config/index.js";
import { RuntimeEvents } from "../../src/core/events.js";
import type { AgentId } from "../../src/core/ids.js";
import { silentLogger } from "../../src/core/logger.js";
import { parseAgentConfig } from "../../src/core/schemas.js";
import type { AuthorizationRequest } from "../../src/core/authorizer.js";
import type { Policy } from "../../src/core/types.js";
import { createPolicyEngine, MemoryPolicyStore, type PolicyEngine } from "../../src/policy/index.js";
import { percentile, round, type Metric } from "../lib.js";

const ACTIONS = [
  "agent.create", "agent.update", "message.send", "message.subscribe", "sandbox.create", "sandbox.exec",
  "file.upload", "file.download", "resource.allocate", "resource.update", "tool.call", "task.schedule",
  "api.request", "message.receive", "sandbox.destroy", "resource.deallocate", "file.read", "file.write",
  "agent.delete", "capability.use",
];

/** Rule j of policy i: mostly conditional allows and denies that do not fire for the benchmark agent. */
function builtinPolicies(): Policy[] {
  return Array.from({ length: 100 }, (_, i) => ({
    id: `p${i}`,
    name: `policy ${i}`,
    description: "",
    priority: i % 10,
    enabled: true,
    rules: Array.from({ length: 10 }, (_, j) => {
      const action = ACTIONS[(i * 10 + j) % ACTIONS.length] as string;
      const k = i * 10 + j;
      if (j % 3 === 0) return { effect: "deny" as const, action, condition: `metadata.team == "team${k}" && tier < Tier2` };
      if (j % 3 === 1) return { effect: "allow" as const, action: `${action}:/workspace/**`, condition: `"Database" in capabilities || resources.memory_mb > ${k}` };
      return { effect: "require" as const, action, condition: `tier >= Tier0 && time.hour >= 0` };
    }),
  }));
}

function cedarPolicies(): Policy[] {
  return Array.from({ length: 100 }, (_, i) => ({
    id: `c${i}`,
    name: `cedar ${i}`,
    description: "",
    priority: i % 10,
    enabled: true,
    rules: [],
    cedar: Array.from({ length: 10 }, (_, j) => {
      const action = ACTIONS[(i * 10 + j) % ACTIONS.length] as string;
      const k = i * 10 + j;
      const a = `action == Symbiont::Action::"${action}"`;
      if (j % 3 === 0) return `forbid(principal, ${a}, resource) when { principal.hasTag("team") && principal.getTag("team") == "team${k}" && context.tier < 2 };`;
      if (j % 3 === 1) return `permit(principal, ${a}, resource) when { context.resource like "/workspace/*" && (context.capabilities.contains("Database") || (context has resources && context.resources.memory_mb > ${k})) };`;
      return `forbid(principal, ${a}, resource) unless { context.tier >= 0 && context.hour >= 0 };`;
    }).join("\n"),
  }));
}

async function makeEngine(policies: Policy[], extraAgents = 0): Promise<{ engine: PolicyEngine; id: AgentId; others: AgentId[] }> {
  const clock = new SystemClock();
  const logger = silentLogger();
  const make = (name: string) => parseAgentConfig({ name, security_tier: "Tier1", capabilities: ["FileSystem"], metadata: { team: "bench" } });
  const agent = make("bench");
  const others = Array.from({ length: extraAgents }, (_, i) => make(`bench-${i}`));
  const directory = new Map([agent, ...others].map((a) => [a.id, a]));
  const engine = await createPolicyEngine({
    config: resolveConfig({}).policy,
    clock,
    events: new RuntimeEvents(clock, logger),
    logger,
    store: new MemoryPolicyStore(),
    agents: { getAgentConfig: async (id) => directory.get(id) },
  });
  for (const p of policies) await engine.updatePolicy(p);
  return { engine, id: agent.id, others: others.map((a) => a.id) };
}

function requests(id: AgentId): AuthorizationRequest[] {
  return ACTIONS.slice(0, 10).map((action, i) => ({ agent_id: id, action, resource: `/workspace/item${i}` }));
}

/** Per-call latencies (µs) of `n` sequential awaited calls, after a warm-up. */
async function latencies(n: number, call: (i: number) => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < Math.min(n, 20_000); i++) await call(i);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await call(i);
    out[i] = (performance.now() - t) * 1000;
  }
  return out.sort((a, b) => a - b);
}

async function throughput(n: number, call: (i: number) => Promise<unknown>): Promise<number> {
  const t = performance.now();
  for (let i = 0; i < n; i++) await call(i);
  return n / ((performance.now() - t) / 1000);
}

/** Process CPU time (user + system) per call of `n` sequential awaited calls. */
async function cpuPerCall(n: number, call: (i: number) => Promise<unknown>): Promise<number> {
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) await call(i);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / n;
}

export async function run(): Promise<Metric[]> {
  const metrics: Metric[] = [];

  // Baseline: an awaited call doing a Map lookup and a function call.
  const table = new Map<string, (r: AuthorizationRequest) => boolean>(ACTIONS.map((a) => [a, (r) => r.resource !== undefined]));
  const reqs = requests("00000000-0000-4000-8000-000000000000" as AgentId);
  const floor = async (r: AuthorizationRequest) => ({ allowed: table.get(r.action)?.(r) ?? false });
  const baseLat = await latencies(200_000, (i) => floor(reqs[i % reqs.length] as AuthorizationRequest));
  const baseRate = await throughput(500_000, (i) => floor(reqs[i % reqs.length] as AuthorizationRequest));

  const { engine, id } = await makeEngine(builtinPolicies());
  const breqs = requests(id);
  const decisions = await Promise.all(breqs.map((r) => engine.check(r)));
  if (decisions.some((d) => !d.allowed)) throw new Error(`benchmark requests should be allowed: ${JSON.stringify(decisions)}`);
  const lat = await latencies(200_000, (i) => engine.check(breqs[i % breqs.length] as AuthorizationRequest));
  const rate = await throughput(500_000, (i) => engine.check(breqs[i % breqs.length] as AuthorizationRequest));
  const b50 = percentile(baseLat, 50);
  const b99 = percentile(baseLat, 99);
  const p50 = percentile(lat, 50);
  const p99 = percentile(lat, 99);
  metrics.push({ name: "builtin_p50", value: round(p50, 3), unit: "us", target: "< 5" });
  metrics.push({ name: "builtin_p99", value: round(p99, 3), unit: "us", target: "< 1000" });
  metrics.push({ name: "builtin_decisions_per_s", value: Math.round(rate), unit: "ops/s", target: ">= 200000" });
  metrics.push({ name: "builtin_p50_vs_baseline", value: round(p50, 3), unit: "us", baseline: round(b50, 3), ratio: round(p50 / b50, 2) });
  metrics.push({ name: "builtin_p99_vs_baseline", value: round(p99, 3), unit: "us", baseline: round(b99, 3), ratio: round(p99 / b99, 2) });
  metrics.push({ name: "builtin_rate_vs_baseline (baseline/value)", value: Math.round(rate), unit: "ops/s", baseline: Math.round(baseRate), ratio: round(baseRate / rate, 2) });
  const bcpu = await cpuPerCall(200_000, (i) => engine.check(breqs[i % breqs.length] as AuthorizationRequest));
  const basecpu = await cpuPerCall(200_000, (i) => floor(reqs[i % reqs.length] as AuthorizationRequest));
  metrics.push({ name: "builtin_cpu_per_decision_vs_baseline", value: round(bcpu, 3), unit: "us", baseline: round(basecpu, 3), ratio: round(bcpu / basecpu, 2) });
  await engine.close();

  const cedar = await makeEngine(cedarPolicies(), 5_000);
  const creqs = requests(cedar.id);
  const cdec = await Promise.all(creqs.map((r) => cedar.engine.check(r)));
  if (cdec.some((d) => !d.allowed)) throw new Error(`benchmark requests should be allowed: ${JSON.stringify(cdec)}`);
  const clat = await latencies(20_000, (i) => cedar.engine.check(creqs[i % creqs.length] as AuthorizationRequest));
  const c50 = percentile(clat, 50);
  const c99 = percentile(clat, 99);
  metrics.push({ name: "cedar_p50", value: round(c50, 1), unit: "us", target: "< 50" });
  metrics.push({ name: "cedar_p99", value: round(c99, 1), unit: "us", target: "< 1000" });
  metrics.push({ name: "cedar_decisions_per_s", value: Math.round(await throughput(20_000, (i) => cedar.engine.check(creqs[i % creqs.length] as AuthorizationRequest))), unit: "ops/s", target: ">= 10000" });
  metrics.push({ name: "cedar_p50_vs_builtin", value: round(c50, 1), unit: "us", baseline: round(p50, 3), ratio: round(c50 / p50, 1) });
  metrics.push({ name: "cedar_p50_vs_baseline", value: round(c50, 1), unit: "us", baseline: round(b50, 3), ratio: round(c50 / b50, 1) });
  metrics.push({ name: "cedar_cpu_per_decision", value: round(await cpuPerCall(20_000, (i) => cedar.engine.check(creqs[i % creqs.length] as AuthorizationRequest)), 2), unit: "us" });
  const fresh = (i: number) => cedar.engine.check({ ...(creqs[i % creqs.length] as AuthorizationRequest), resource: `/workspace/fresh${i}` });
  let seq = 0;
  const nlat = await latencies(10_000, () => fresh(seq++));
  const ncpu = await cpuPerCall(10_000, () => fresh(seq++));
  metrics.push({ name: "cedar_new_resource_p50", value: round(percentile(nlat, 50), 1), unit: "us", target: "< 50" });
  metrics.push({ name: "cedar_new_resource_p99", value: round(percentile(nlat, 99), 1), unit: "us" });
  metrics.push({ name: "cedar_new_resource_cpu_per_decision", value: round(ncpu, 1), unit: "us" });
  // A new agent and resource on every call; warm-up and measurement each use their own agents.
  const cold = (i: number) => cedar.engine.check({ ...(creqs[i % creqs.length] as AuthorizationRequest), agent_id: cedar.others[i] as AgentId, resource: `/workspace/cold${i}` });
  let next = 0;
  for (; next < 1_000; next++) await cold(next);
  const clatCold: number[] = [];
  for (; next < 3_000; next++) {
    const t = performance.now();
    await cold(next);
    clatCold.push((performance.now() - t) * 1000);
  }
  clatCold.sort((a, b) => a - b);
  const start = next;
  const ccpu = await cpuPerCall(2_000, (i) => cold(start + i));
  metrics.push({ name: "cedar_cold_p50", value: round(percentile(clatCold, 50), 1), unit: "us", target: "< 1000" });
  metrics.push({ name: "cedar_cold_p99", value: round(percentile(clatCold, 99), 1), unit: "us" });
  metrics.push({ name: "cedar_cold_cpu_per_decision", value: round(ccpu, 1), unit: "us" });
  await cedar.engine.close();
  return metrics;
}
