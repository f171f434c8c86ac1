/**
 * `symbiont up --agents DIR`: every `.symbi` file of DIR becomes running agents through the same path as
 * `POST /agents` with `dsl`. Everything is checked before anything is created — every file parses and
 * extracts, agent names are unique across the files, no name is taken by an agent that was not loaded from
 * DSL, no `at` schedule is already past — and a failed create terminates the agents this load created, so
 * start-up never goes on half-loaded. On a durable store a restart finds the agents already there (with
 * their schedule jobs): unchanged ones are left alone, changed ones re-extracted.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { DslError, isRuntimeError } from "../core/errors.js";
import type { AgentConfig } from "../core/types.js";
import type { LifecycleController } from "../lifecycle/types.js";
import { formatDiagnostic } from "./diagnostics.js";
import { applyDefinition, deployConfigs, instanceConfig, type DslTarget } from "./deploy.js";
import { compileDsl, DSL_AGENT_KEY, type DslAgent, type DslFile } from "./extract.js";
import { jobSpecs, pastTimes, type DslJobSpec } from "./schedules.js";

export interface AgentDirReport {
  readonly files: readonly string[];
  readonly created: readonly string[];
  readonly updated: readonly string[];
  readonly unchanged: readonly string[];
}

type Target = DslTarget & { readonly lifecycle: DslTarget["lifecycle"] & Pick<LifecycleController, "listAgents"> };

interface Loaded {
  readonly file: string;
  readonly agent: DslAgent;
  readonly compiled: DslFile;
}

function where(file: string, agent: DslAgent): string {
  return `${file}:${agent.span.start.line}:${agent.span.start.col}`;
}

function problem(file: string, agent: DslAgent, message: string): string {
  return `${where(file, agent)}: ${message}`;
}

function symbiFiles(dir: string): string[] {
  let names: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new Error("not a directory");
    names = readdirSync(dir);
  } catch (e) {
    throw new DslError("DSL_EXTRACTION_ERROR", `cannot load agents from ${dir}: ${(e as Error).message}`, { details: { dir } });
  }
  return names.filter((n) => n.endsWith(".symbi")).sort().map((n) => join(dir, n));
}

/** Reads, checks and deploys every `.symbi` file of `dir`; throws a DslError listing every problem. */
export async function loadAgentDir(dir: string, target: Target): Promise<AgentDirReport> {
  const files = symbiFiles(dir);
  const problems: string[] = [];
  let code: "DSL_PARSE_ERROR" | "DSL_EXTRACTION_ERROR" = "DSL_EXTRACTION_ERROR";
  const agents: Loaded[] = [];
  for (const file of files) {
    try {
      const compiled = compileDsl(readFileSync(file, "utf8"), file);
      for (const agent of compiled.agents) agents.push({ file, agent, compiled });
    } catch (e) {
      if (!isRuntimeError(e) || (e.code !== "DSL_PARSE_ERROR" && e.code !== "DSL_EXTRACTION_ERROR")) throw e;
      if (e.code === "DSL_PARSE_ERROR") code = e.code;
      for (const d of (e.details?.diagnostics ?? []) as { text: string }[]) problems.push(d.text);
    }
  }

  const seen = new Map<string, Loaded>();
  for (const entry of agents) {
    const prev = seen.get(entry.agent.name);
    if (prev) problems.push(problem(entry.file, entry.agent, `agent '${entry.agent.name}' is also defined at ${where(prev.file, prev.agent)}`));
    else seen.set(entry.agent.name, entry);
  }

  const existing = new Map((await target.lifecycle.listAgents()).map((a) => [a.config.name, a]));
  const create: AgentConfig[] = [];
  const createJobs: DslJobSpec[] = [];
  const update: { previous: AgentConfig; next: AgentConfig; jobs: DslJobSpec[] }[] = [];
  const unchanged: string[] = [];
  for (const { file, agent, compiled } of seen.values()) {
    const current = existing.get(agent.name);
    if (!current) {
      const config = instanceConfig(agent, agent.name);
      const jobs = jobSpecs(compiled, agent.name, config.id);
      for (const d of pastTimes(jobs, target.clock)) problems.push(formatDiagnostic(file, d));
      create.push(config);
      createJobs.push(...jobs);
    } else if (current.config.metadata[DSL_AGENT_KEY] === undefined) {
      problems.push(problem(file, agent, `an agent named '${agent.name}' already exists (${current.id}) and was not loaded from DSL`));
    } else if (current.config.dsl_source === agent.config.dsl_source) {
      unchanged.push(agent.name);
    } else {
      update.push({ previous: current.config, next: instanceConfig(agent, agent.name, {}, current.id), jobs: jobSpecs(compiled, agent.name, current.id) });
    }
  }

  if (problems.length > 0) {
    throw new DslError(code, `cannot load agents from ${dir}:\n  ${problems.join("\n  ")}`, { details: { dir, problems } });
  }
  // New agents first (all or nothing); changed definitions only once they all stand.
  await deployConfigs(target, create, createJobs);
  for (const u of update) await applyDefinition(target, u.previous, u.next, u.jobs);
  return { files, created: create.map((c) => c.name), updated: update.map((u) => u.next.name), unchanged };
}
