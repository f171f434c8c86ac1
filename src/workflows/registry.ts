/**
 * The named workflows: loaded from a directory of YAML/JSON files at start, plus those registered through
 * the API, which are written to the same directory (`<id>.api.json`, atomically) so they survive a restart.
 * A workflow defined by a hand-written file is changed by editing the file, not through the API.
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { extname, join } from "node:path";
import { parse as parseYaml } from "yaml";
import { ApiError } from "../core/errors.js";
import { planWorkflow, type WorkflowPlan } from "./dag.js";
import type { WorkflowDefinition } from "./schema.js";

const EXTENSIONS = new Set([".yaml", ".yml", ".json"]);

export interface WorkflowSummary {
  readonly id: string;
  readonly name: string | null;
  readonly description: string | null;
  readonly steps: number;
  readonly source: "file" | "api";
}

export class WorkflowRegistry {
  readonly #dir: string | undefined;
  readonly #plans = new Map<string, { plan: WorkflowPlan; source: "file" | "api" }>();

  private constructor(dir: string | undefined) {
    this.#dir = dir;
  }

  /** Loads every workflow file in `dir` (a missing directory is empty); a bad file fails with WORKFLOW_INVALID naming it. */
  static async open(dir?: string): Promise<WorkflowRegistry> {
    const reg = new WorkflowRegistry(dir);
    if (!dir) return reg;
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => EXTENSIONS.has(extname(n))).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return reg;
      throw new ApiError("WORKFLOW_INVALID", `Cannot read workflows directory ${dir}: ${(err as Error).message}`, { cause: err });
    }
    for (const name of names) {
      const file = join(dir, name);
      let data: unknown;
      try {
        const text = await readFile(file, "utf8");
        data = extname(name) === ".json" ? JSON.parse(text) : parseYaml(text);
      } catch (err) {
        throw new ApiError("WORKFLOW_INVALID", `Cannot parse workflow file ${file}: ${(err as Error).message}`, { details: { file: name }, cause: err });
      }
      let plan: WorkflowPlan;
      try {
        plan = planWorkflow(data);
      } catch (err) {
        const e = err as ApiError;
        throw new ApiError("WORKFLOW_INVALID", `Workflow file ${file}: ${e.message}`, { details: { file: name, ...e.details }, cause: err });
      }
      if (reg.#plans.has(plan.definition.id)) {
        throw new ApiError("WORKFLOW_INVALID", `Workflow id ${plan.definition.id} is defined twice (second in ${file})`, { details: { file: name } });
      }
      reg.#plans.set(plan.definition.id, { plan, source: api(name, plan.definition.id) ? "api" : "file" });
    }
    return reg;
  }

  get(id: string): WorkflowPlan {
    const hit = this.#plans.get(id);
    if (!hit) throw new ApiError("WORKFLOW_NOT_FOUND", `Workflow ${id} not found`, { details: { workflow_id: id } });
    return hit.plan;
  }

  has(id: string): boolean {
    return this.#plans.has(id);
  }

  list(): WorkflowSummary[] {
    return [...this.#plans.values()].map(({ plan, source }) => summary(plan.definition, source));
  }

  /** Validates and stores (replacing one with the same id); persisted when the registry has a directory. */
  async register(input: unknown): Promise<WorkflowSummary> {
    const plan = planWorkflow(input);
    const id = plan.definition.id;
    if (this.#plans.get(id)?.source === "file") {
      throw new ApiError("WORKFLOW_INVALID", `Workflow ${id} is defined by a file in the workflows directory; edit that file instead`, {
        details: { workflow_id: id },
      });
    }
    if (this.#dir) {
      await mkdir(this.#dir, { recursive: true });
      const file = join(this.#dir, apiFileName(id));
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(tmp, `${JSON.stringify(plan.definition, null, 2)}\n`);
      await rename(tmp, file);
    }
    this.#plans.set(id, { plan, source: "api" });
    return summary(plan.definition, "api");
  }

  /** Removes a workflow (and its file when it was registered through the API). */
  async remove(id: string): Promise<void> {
    const hit = this.#plans.get(id);
    if (!hit) throw new ApiError("WORKFLOW_NOT_FOUND", `Workflow ${id} not found`, { details: { workflow_id: id } });
    if (this.#dir && hit.source === "api") await rm(join(this.#dir, apiFileName(id)), { force: true });
    this.#plans.delete(id);
  }
}

function apiFileName(id: string): string {
  return `${id}.api.json`;
}

/** Files `register` wrote can be replaced and removed through the API again. */
function api(fileName: string, id: string): boolean {
  return fileName === apiFileName(id);
}

function summary(d: WorkflowDefinition, source: "file" | "api"): WorkflowSummary {
  return { id: d.id, name: d.name ?? null, description: d.description ?? null, steps: d.steps.length, source };
}
