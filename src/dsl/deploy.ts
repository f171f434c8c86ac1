/**
 * A compiled `.symbi` file into running agents: every agent of the file is created, initialized and started
 * through the lifecycle controller (whose policy validation applies), all or nothing — when one fails, the
 * ones already created are terminated again. The policies in each config are enforced by the policy engine
 * from then on; a recurring cron schedule is the agent's Scheduled execution mode, which the scheduler's cron
 * fires, and the file's other schedules (one-shot, policy-governed) become schedule jobs (`schedules.ts`).
 * Used by `POST /agents` with `dsl` and by `symbiont up --agents DIR`.
 *
 * @example
 * const file = runtime.dsl.compile(body.dsl, "dsl");
 * const [primary] = await deployDsl(runtime, file, { name: "validator", overrides: { priority: "High" } });
 */
import type { Clock } from "../core/clock.js";
import { DslError } from "../core/errors.js";
import { AgentId } from "../core/ids.js";
import { parseAgentConfig } from "../core/schemas.js";
import type { AgentConfig, AgentInstance } from "../core/types.js";
import type { LifecycleController } from "../lifecycle/types.js";
import { DSL_AGENT_KEY, type DslAgent, type DslFile } from "./extract.js";
import { checkTimes, createJobs, jobSpecs, syncJobs, type DslJobSpec, type DslScheduleJobs } from "./schedules.js";

export type DslLifecycle = Pick<LifecycleController, "createAgent" | "initializeAgent" | "startAgent" | "terminateAgent" | "getAgent" | "updateAgentConfig">;

/** What a deployment acts through (the runtime has each). */
export interface DslTarget {
  readonly lifecycle: DslLifecycle;
  readonly scheduleJobs: DslScheduleJobs;
  readonly clock: Pick<Clock, "now">;
}

export interface DeployOptions {
  /**
   * Which agent the caller names: an agent of the file by that name, or — when the file has exactly one
   * agent — the name its instance is given.
   */
  readonly name?: string;
  /** AgentConfig fields (as `parseAgentConfig` takes them) laid over the named agent's extracted config. */
  readonly overrides?: Readonly<Record<string, unknown>>;
}

/** The file's agent `name` refers to, and the instance name it gets. */
export function selectAgent(file: DslFile, name: string | undefined): { agent: DslAgent; instanceName: string } {
  const names = file.agents.map((a) => a.name);
  if (names.length === 0) throw new DslError("DSL_EXTRACTION_ERROR", "the DSL source defines no agent", { details: { agents: names } });
  const byName = name === undefined ? undefined : file.agents.find((a) => a.name === name);
  if (byName) return { agent: byName, instanceName: byName.name };
  if (file.agents.length === 1) return { agent: file.agents[0] as DslAgent, instanceName: name ?? (names[0] as string) };
  throw new DslError(
    "DSL_EXTRACTION_ERROR",
    `the DSL source defines ${names.length} agents (${names.join(", ")}); ${name === undefined ? "name one of them" : `'${name}' is none of them`}`,
    { details: { agents: names, ...(name !== undefined ? { name } : {}) } },
  );
}

/** The instance's config: the extracted one, the overrides over it (metadata and limits merged), a fresh or given id. */
export function instanceConfig(agent: DslAgent, instanceName: string, overrides: Readonly<Record<string, unknown>> = {}, id?: AgentId): AgentConfig {
  const metadata = { ...agent.config.metadata, ...((overrides.metadata ?? {}) as Record<string, string>), [DSL_AGENT_KEY]: agent.name };
  const resource_limits = { ...agent.config.resource_limits, ...((overrides.resource_limits ?? {}) as object) };
  return parseAgentConfig({ ...agent.config, ...overrides, id: id ?? AgentId.new(), name: instanceName, dsl_source: agent.config.dsl_source, metadata, resource_limits });
}

/**
 * Creates, initializes and starts every agent of `file`, the named one first with the overrides, then the
 * file's schedule jobs. Resolves to the instances in that order. On any failure the agents and jobs created
 * so far are removed again and the error is rethrown.
 */
export async function deployDsl(target: DslTarget, file: DslFile, options: DeployOptions = {}): Promise<AgentInstance[]> {
  const { agent: primary, instanceName } = selectAgent(file, options.name);
  const entries = [
    { agent: primary, config: instanceConfig(primary, instanceName, options.overrides) },
    ...file.agents.filter((a) => a !== primary).map((a) => ({ agent: a, config: instanceConfig(a, a.name) })),
  ];
  const jobs = entries.flatMap((e) => jobSpecs(file, e.agent.name, e.config.id));
  return deployConfigs(target, entries.map((e) => e.config), jobs);
}

/** Creates, initializes and starts each config in order, then creates `jobs` for them; all or nothing. */
export async function deployConfigs(target: DslTarget, configs: readonly AgentConfig[], jobs: readonly DslJobSpec[] = []): Promise<AgentInstance[]> {
  checkTimes(jobs, target.clock);
  const { lifecycle } = target;
  const created: AgentInstance[] = [];
  try {
    for (const config of configs) {
      const instance = await lifecycle.createAgent(config);
      created.push(instance);
      await lifecycle.initializeAgent(instance.id);
      await lifecycle.startAgent(instance.id);
    }
    await createJobs(target.scheduleJobs, jobs);
    return Promise.all(created.map((a) => lifecycle.getAgent(a.id)));
  } catch (err) {
    for (const a of created.reverse()) await lifecycle.terminateAgent(a.id).catch(() => undefined);
    throw err;
  }
}

/**
 * Re-extracts an existing agent's definition from `file`: the agent of the file it ran before (by its
 * `dsl.agent` metadata or its name), or the only one. Keeps the instance's id and (unless overridden) name.
 */
export async function redeployDsl(target: DslTarget, id: AgentId, file: DslFile, overrides: Readonly<Record<string, unknown>> = {}): Promise<AgentConfig> {
  const current = await target.lifecycle.getAgent(id);
  const ran = current.config.metadata[DSL_AGENT_KEY] ?? current.config.name;
  const agent = file.agents.find((a) => a.name === ran) ?? selectAgent(file, ran).agent;
  const name = typeof overrides.name === "string" ? overrides.name : current.config.name;
  const next = instanceConfig(agent, name, overrides, id);
  await applyDefinition(target, current.config, next, jobSpecs(file, agent.name, id));
  return next;
}

/**
 * Replaces an agent's config with `next` and its schedule jobs with `jobs`; when the jobs cannot be made
 * (an unknown policy, an `at` already past) the previous config is put back.
 */
export async function applyDefinition(target: DslTarget, previous: AgentConfig, next: AgentConfig, jobs: readonly DslJobSpec[]): Promise<void> {
  await target.lifecycle.updateAgentConfig(next.id, next);
  try {
    await syncJobs(target.scheduleJobs, target.clock, next.id, previous.dsl_source, jobs);
  } catch (err) {
    await target.lifecycle.updateAgentConfig(previous.id, previous).catch(() => undefined);
    throw err;
  }
}
