/**
 * The runtime's one configuration schema: a section per component, each with defaults that run on one
 * machine with no external service. Loaded from a YAML or JSON file, then `SYMBIONT_*` environment
 * variables, then explicit overrides (CLI flags); validated once, frozen, and handed to each component.
 */
import { readFileSync } from "node:fs";
import { extname } from "node:path";
import { z } from "zod";
import { parse as parseYaml } from "yaml";
import { ConfigurationError } from "../errors.js";
import { parseConfig } from "../validation.js";
import { apiConfigSchema } from "./api.js";
import { auditConfigSchema } from "./audit.js";
import { communicationConfigSchema } from "./communication.js";
import { dslConfigSchema } from "./dsl.js";
import { errorHandlerConfigSchema } from "./error-handler.js";
import { lifecycleConfigSchema } from "./lifecycle.js";
import { policyConfigSchema } from "./policy.js";
import { resourcesConfigSchema } from "./resources.js";
import { sandboxConfigSchema } from "./sandbox.js";
import { schedulerConfigSchema } from "./scheduler.js";
import { storeConfigSchema } from "./store.js";
import { workflowsConfigSchema } from "./workflows.js";

export const runtimeConfigSchema = z
  .object({
    /** Where embedded state (SQLite files, sandbox workspaces, keys) lives. */
    data_dir: z.string().min(1).default(".symbiont"),
    log_level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    lifecycle: lifecycleConfigSchema.prefault({}),
    resources: resourcesConfigSchema.prefault({}),
    scheduler: schedulerConfigSchema.prefault({}),
    communication: communicationConfigSchema.prefault({}),
    error_handler: errorHandlerConfigSchema.prefault({}),
    sandbox: sandboxConfigSchema.prefault({}),
    audit: auditConfigSchema.prefault({}),
    store: storeConfigSchema.prefault({}),
    policy: policyConfigSchema.prefault({}),
    api: apiConfigSchema.prefault({}),
    workflows: workflowsConfigSchema.prefault({}),
    dsl: dslConfigSchema.prefault({}),
  })
  .strict();

export type RuntimeConfig = z.output<typeof runtimeConfigSchema>;
export type RuntimeConfigInput = z.input<typeof runtimeConfigSchema>;

export type { LifecycleConfig } from "./lifecycle.js";
export type { ResourcesConfig } from "./resources.js";
export type { SchedulerConfig } from "./scheduler.js";
export type { CommunicationConfig } from "./communication.js";
export type { ErrorHandlerConfig } from "./error-handler.js";
export type { SandboxSettings } from "./sandbox.js";
export type { AuditConfig } from "./audit.js";
export type { StoreConfig } from "./store.js";
export type { PolicyConfig } from "./policy.js";
export type { ApiConfig } from "./api.js";
export type { WorkflowsConfig } from "./workflows.js";
export type { DslConfig } from "./dsl.js";

type Plain = Record<string, unknown>;

function isPlain(v: unknown): v is Plain {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Merges `over` into `base`: objects recursively, everything else replaced. */
export function deepMerge(base: Plain, over: Plain): Plain {
  const out: Plain = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    const prev = out[k];
    out[k] = isPlain(prev) && isPlain(v) ? deepMerge(prev, v) : v;
  }
  return out;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** Reads a YAML (.yaml/.yml) or JSON config file. */
export function readConfigFile(path: string): Plain {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigurationError("config file", [{ path, message: `cannot read: ${(err as Error).message}` }], {
      cause: err,
    });
  }
  try {
    const data: unknown = extname(path) === ".json" ? JSON.parse(text) : parseYaml(text);
    if (data === null || data === undefined) return {};
    if (!isPlain(data)) throw new Error("the top level must be a mapping");
    return data;
  } catch (err) {
    throw new ConfigurationError("config file", [{ path, message: (err as Error).message }], { cause: err });
  }
}

/**
 * `SYMBIONT_<SECTION>__<FIELD>=value` sets `section.field` (double underscore separates levels; single
 * underscores stay in names): `SYMBIONT_API__PORT=9090`, `SYMBIONT_DATA_DIR=/var/lib/symbiont`.
 * Values are read as JSON when they parse as JSON (numbers, booleans, arrays), else as strings.
 */
export function envOverrides(env: NodeJS.ProcessEnv = process.env): Plain {
  const out: Plain = {};
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith("SYMBIONT_") || raw === undefined) continue;
    const path = name.slice("SYMBIONT_".length).toLowerCase().split("__");
    if (path.some((p) => p === "")) continue;
    const section = path[0];
    // Only names that address the config schema; SYMBIONT_REQUIRE_TIERS and friends belong to tools.
    if (!section || !(section in runtimeConfigSchema.shape)) continue;
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      value = raw;
    }
    let node = out;
    for (const key of path.slice(0, -1)) {
      const next = isPlain(node[key]) ? (node[key] as Plain) : {};
      node[key] = next;
      node = next;
    }
    node[path[path.length - 1] as string] = value;
  }
  return out;
}

export interface LoadConfigOptions {
  /** A YAML or JSON file. */
  readonly file?: string;
  /** Environment to read SYMBIONT_* from; defaults to process.env. Pass {} to ignore the environment. */
  readonly env?: NodeJS.ProcessEnv;
  /** Highest precedence (CLI flags, programmatic settings). */
  readonly overrides?: RuntimeConfigInput | Plain;
}

/** Builds the validated, frozen runtime config: defaults < file < env < overrides. */
export function loadConfig(options: LoadConfigOptions = {}): RuntimeConfig {
  let merged: Plain = {};
  if (options.file) merged = deepMerge(merged, readConfigFile(options.file));
  merged = deepMerge(merged, envOverrides(options.env ?? process.env));
  if (options.overrides) merged = deepMerge(merged, options.overrides as Plain);
  return deepFreeze(parseConfig(runtimeConfigSchema, merged, "runtime configuration"));
}

/** Validates an in-memory config (for embedding and tests): no file, no environment. */
export function resolveConfig(input: RuntimeConfigInput = {}): RuntimeConfig {
  return loadConfig({ env: {}, overrides: input });
}
