/**
 * From a parsed file to runtime configuration: one AgentConfig per agent (name, capabilities, security tier
 * from `sandbox`, limits from `timeout` / `max_memory_mb` / `max_cpu_cores`, metadata, the agent's compiled
 * policies), schedules (cron or at), channels, memories and webhooks. Every problem is a diagnostic with the
 * span of the attribute at fault; nothing falls back to a silent default.
 *
 * @example
 * const file = compileDsl(source, "agents/validator.symbi"); // throws DslError on any problem
 * await runtime.lifecycle.createAgent(file.agents[0].config);
 */
import { Cron } from "croner";
import type { AgentDecl, Attr, Block, FunctionDecl, Item, Param, PolicyBlock, Program, Span, TypeDef, TypeRef } from "./ast.js";
import { ConfigurationError, DslError } from "../core/errors.js";
import { DEFAULT_RESOURCE_LIMITS, parseAgentConfig } from "../core/schemas.js";
import type { AgentConfig, Capability, ExecutionMode, Policy, SecurityTier } from "../core/types.js";
import { formatDiagnostic, type Diagnostic } from "./diagnostics.js";
import { parse } from "./parser.js";
import { compilePolicy, restrictions } from "./policy.js";
import { attrData, attrString, type AttrData } from "./values.js";

export interface DslAgent {
  readonly name: string;
  /** Its policy in the runtime: `policies` holds the enforced restrictions (deny / require) only. */
  readonly config: AgentConfig;
  /** Every rule of the agent's policy blocks and of the file's top-level ones, as the DSL host applies them. */
  readonly policies: readonly Policy[];
  readonly params: readonly Param[];
  readonly returnType: TypeRef | undefined;
  /** The `with` block's body: what a task for this agent runs. */
  readonly body: Block | undefined;
  /** The agent's own functions (file-level functions are on `DslFile.functions`). */
  readonly functions: readonly FunctionDecl[];
  /** Wall-clock budget of one run of the body, ms (the `timeout` attribute, else the default limit). */
  readonly timeoutMs: number;
  readonly span: Span;
}

export interface DslSchedule {
  readonly name: string;
  readonly cron?: string;
  /** Epoch ms of a one-shot run. */
  readonly at?: number;
  readonly timezone: string;
  readonly agent?: string;
  /** A policy id — one of the file's policies or one installed in the runtime — asked before each run. */
  readonly policy?: string;
  readonly one_shot: boolean;
  readonly span: Span;
}

/**
 * A plain recurring cron schedule is its agent's Scheduled execution mode. One that runs once (`at`, or
 * `one_shot = true`) or is governed by a policy becomes a schedule job for the agent instead, which knows
 * both (see `deploy.ts`).
 */
export function isExecutionMode(s: DslSchedule): boolean {
  return s.cron !== undefined && !s.one_shot && s.policy === undefined;
}

export interface DslBlockInfo {
  readonly name: string;
  readonly attributes: Readonly<Record<string, AttrData>>;
  readonly span: Span;
}

export interface DslChannel extends DslBlockInfo {
  readonly platform: string;
  readonly policies: readonly Policy[];
  readonly data_classification: Readonly<Record<string, string>>;
}

export interface DslFile {
  /** The name its diagnostics carry (`compileDsl`'s `file`; `<dsl>` when not given). */
  readonly source: string;
  readonly program: Program;
  readonly metadata: Readonly<Record<string, AttrData>>;
  readonly agents: readonly DslAgent[];
  readonly schedules: readonly DslSchedule[];
  readonly channels: readonly DslChannel[];
  readonly memories: readonly DslBlockInfo[];
  readonly webhooks: readonly DslBlockInfo[];
  readonly types: readonly TypeDef[];
  readonly functions: readonly FunctionDecl[];
  /** Top-level policy blocks, compiled. */
  readonly policies: readonly Policy[];
}

/** Metadata key naming the agent of `dsl_source` an instance runs. */
export const DSL_AGENT_KEY = "dsl.agent";

const TIERS: Readonly<Record<string, SecurityTier>> = {
  bubblewrap: "Tier0",
  bwrap: "Tier0",
  tier0: "Tier0",
  docker: "Tier1",
  tier1: "Tier1",
  gvisor: "Tier2",
  tier2: "Tier2",
  firecracker: "Tier3",
  tier3: "Tier3",
};
const WITH_ATTRS = ["sandbox", "timeout", "max_memory_mb", "max_cpu_cores", "memory", "security", "privacy"];
const CAPABILITY_NAMES: Readonly<Record<string, Capability>> = {
  filesystem: "FileSystem",
  file_system: "FileSystem",
  network: "Network",
  database: "Database",
};

export interface ExtractResult {
  readonly file: DslFile;
  readonly diagnostics: readonly Diagnostic[];
}

/** Extracts runtime configuration from a parsed program; `source` becomes each agent's `dsl_source`. */
export function extract(program: Program, source: string, sourceName = "<dsl>"): ExtractResult {
  const diagnostics: Diagnostic[] = [];
  const err = (span: Span, message: string): void => {
    diagnostics.push({ span, message });
  };
  const metadata: Record<string, AttrData> = {};
  const policies: Policy[] = [];
  const schedules: DslSchedule[] = [];
  const channels: DslChannel[] = [];
  const memories: DslBlockInfo[] = [];
  const webhooks: DslBlockInfo[] = [];
  const types: TypeDef[] = [];
  const functions: FunctionDecl[] = [];
  const agentDecls: AgentDecl[] = [];
  const seen = new Map<string, Span>();
  const unique = (kind: string, name: string, span: Span): void => {
    const key = `${kind}:${name}`;
    const prev = seen.get(key);
    if (prev) err(span, `${kind} '${name}' is already defined at ${prev.start.line}:${prev.start.col}`);
    else seen.set(key, span);
  };

  for (const item of program.items as Item[]) {
    switch (item.kind) {
      case "Metadata":
        for (const a of item.attrs) metadata[a.key] = attrData(a.value);
        break;
      case "Agent":
        unique("agent", item.name, item.nameSpan);
        agentDecls.push(item);
        break;
      case "Policy":
        unique("policy", item.name, item.span);
        policies.push(compilePolicy(item, item.name, err));
        break;
      case "TypeDef":
        unique("type", item.name, item.span);
        types.push(item);
        break;
      case "Function":
        unique("function", item.name, item.span);
        functions.push(item);
        break;
      case "Schedule": {
        const s = extractSchedule(item.name, item.attrs, item.span, err);
        if (s) schedules.push(s);
        break;
      }
      case "Channel": {
        const attributes = attrMap(item.members.filter((m): m is Attr => m.kind === "Attr"));
        if (typeof attributes.platform !== "string") err(item.span, `channel '${item.name}' requires a 'platform' attribute`);
        const dc: Record<string, string> = {};
        for (const m of item.members) if (m.kind === "DataClassification") for (const e of m.entries) dc[e.key] = e.value;
        channels.push({
          name: item.name,
          attributes,
          span: item.span,
          platform: String(attributes.platform ?? ""),
          policies: item.members.filter((m): m is PolicyBlock => m.kind === "Policy").map((p) => compilePolicy(p, `${item.name}.${p.name}`, err)),
          data_classification: dc,
        });
        break;
      }
      case "Memory":
      case "Webhook": {
        const attributes = attrMap(item.members.filter((m): m is Attr => m.kind === "Attr"));
        for (const m of item.members) if (m.kind === "SubBlock") attributes[m.name] = attrMap(m.attrs);
        if (item.kind === "Webhook" && typeof attributes.path !== "string") err(item.span, `webhook '${item.name}' requires a 'path' attribute`);
        (item.kind === "Memory" ? memories : webhooks).push({ name: item.name, attributes, span: item.span });
        break;
      }
    }
  }

  // Every schedule runs an agent of this file; a recurring cron one is that agent's execution mode, so one each.
  const cronOf = new Map<string, DslSchedule>();
  for (const sc of schedules) {
    if (sc.agent === undefined) err(sc.span, `schedule '${sc.name}' must name the agent it runs (agent = NAME)`);
    else if (!agentDecls.some((a) => a.name === sc.agent)) err(sc.span, `schedule '${sc.name}' runs agent '${sc.agent}', which this file does not define`);
    else if (!isExecutionMode(sc)) {
      const own = policies.find((p) => p.id === sc.policy);
      if (own && !restrictions(own)) err(sc.span, `schedule '${sc.name}': policy '${own.id}' has no deny or require rule, so it can never stop a run`);
    }
    else if (cronOf.has(sc.agent)) err(sc.span, `agent '${sc.agent}' already runs on schedule '${(cronOf.get(sc.agent) as DslSchedule).name}'; an agent has one recurring cron schedule without a policy`);
    else cronOf.set(sc.agent, sc);
  }
  const agents: DslAgent[] = [];
  for (const decl of agentDecls) {
    const agent = extractAgent(decl, source, metadata, schedules, policies, err);
    if (agent) agents.push(agent);
  }
  diagnostics.sort((a, b) => a.span.start.offset - b.span.start.offset);
  return { file: { source: sourceName, program, metadata, agents, schedules, channels, memories, webhooks, types, functions, policies }, diagnostics };
}

function attrMap(attrs: readonly Attr[]): Record<string, AttrData> {
  const out: Record<string, AttrData> = {};
  for (const a of attrs) out[a.key] = attrData(a.value);
  return out;
}

function extractSchedule(name: string, attrs: readonly Attr[], span: Span, err: (s: Span, m: string) => void): DslSchedule | undefined {
  const byKey = new Map(attrs.map((a) => [a.key, a]));
  const cron = byKey.get("cron");
  const at = byKey.get("at");
  if ((cron ? 1 : 0) + (at ? 1 : 0) !== 1) {
    err(span, `schedule '${name}' needs exactly one of 'cron' or 'at'${cron && at ? " (it has both)" : ""}`);
    return undefined;
  }
  const str = (a: Attr | undefined, what: string): string | undefined => {
    if (!a) return undefined;
    if (a.value.kind === "Literal" && a.value.type === "string") return a.value.value;
    if (a.value.kind === "Ident") return a.value.name;
    err(a.value.span, `schedule '${name}': '${what}' must be a string`);
    return undefined;
  };
  const timezone = str(byKey.get("timezone"), "timezone") ?? "UTC";
  const out: { -readonly [K in keyof DslSchedule]: DslSchedule[K] } = { name, timezone, one_shot: false, span };
  if (cron) {
    const pattern = str(cron, "cron");
    if (pattern === undefined) return undefined;
    try {
      new Cron(pattern, { paused: true, timezone });
    } catch (e) {
      err(cron.value.span, `schedule '${name}': invalid cron expression ${JSON.stringify(pattern)}: ${(e as Error).message}`);
      return undefined;
    }
    out.cron = pattern;
  } else if (at) {
    const text = str(at, "at");
    const ms = text === undefined ? Number.NaN : Date.parse(text);
    if (Number.isNaN(ms)) {
      err(at.value.span, `schedule '${name}': 'at' must be an ISO 8601 timestamp such as "2030-01-01T09:00:00Z"`);
      return undefined;
    }
    out.at = ms;
    out.one_shot = true;
  }
  const agent = str(byKey.get("agent"), "agent");
  if (agent !== undefined) out.agent = agent;
  const policy = str(byKey.get("policy"), "policy");
  if (policy !== undefined) out.policy = policy;
  const oneShot = byKey.get("one_shot");
  if (oneShot) {
    if (oneShot.value.kind !== "Literal" || oneShot.value.type !== "bool") err(oneShot.value.span, `schedule '${name}': 'one_shot' must be true or false`);
    else if (at && !oneShot.value.value) err(oneShot.value.span, `schedule '${name}': an 'at' schedule runs once; 'one_shot = false' contradicts it`);
    else out.one_shot = oneShot.value.value;
  }
  for (const a of attrs) {
    if (!["cron", "at", "timezone", "agent", "policy", "one_shot"].includes(a.key)) {
      err(a.span, `schedule '${name}': unknown attribute '${a.key}' (known: cron, at, timezone, agent, policy, one_shot)`);
    }
  }
  return out;
}

function extractAgent(
  decl: AgentDecl,
  source: string,
  fileMetadata: Readonly<Record<string, AttrData>>,
  schedules: readonly DslSchedule[],
  filePolicies: readonly Policy[],
  err: (s: Span, m: string) => void,
): DslAgent | undefined {
  const before = { count: 0 };
  const report = (s: Span, m: string): void => {
    before.count++;
    err(s, m);
  };
  const capabilities: Capability[] = [];
  const policies: Policy[] = [];
  const functions: FunctionDecl[] = [];
  let body: Block | undefined;
  let withSpan: Span | undefined;
  let tier: SecurityTier | undefined;
  let timeoutMs: number | undefined;
  let memoryMb: number | undefined;
  let cpuCores: number | undefined;
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(fileMetadata)) metadata[k] = attrString(v);
  // Which agent of the source is this one's body, whatever name the runtime's instance is given.
  metadata[DSL_AGENT_KEY] = decl.name;

  for (const m of decl.members) {
    switch (m.kind) {
      case "Capabilities":
        for (const c of m.list.items) {
          const name = c.kind === "Literal" && c.type === "string" ? c.value : c.kind === "Ident" ? c.name : undefined;
          if (name === undefined || name === "") {
            report(c.span, "a capability must be a non-empty name or string");
            continue;
          }
          capabilities.push(CAPABILITY_NAMES[name.toLowerCase()] ?? { Custom: name });
        }
        break;
      case "Policy":
        policies.push(compilePolicy(m, `${decl.name}.${m.name}`, report));
        break;
      case "Function":
        functions.push(m);
        break;
      case "With": {
        if (withSpan) {
          report(m.span, `agent '${decl.name}' already has a with block at ${withSpan.start.line}:${withSpan.start.col}; an agent has one body`);
          break;
        }
        withSpan = m.span;
        body = m.body;
        for (const a of m.attrs) {
          const v = a.value;
          switch (a.key) {
            case "sandbox": {
              const text = v.kind === "Literal" && v.type === "string" ? v.value : v.kind === "Ident" ? v.name : undefined;
              const t = text === undefined ? undefined : TIERS[text.toLowerCase()];
              if (!t) report(v.span, `unknown sandbox tier ${text === undefined ? "value" : JSON.stringify(text)}: use docker/tier1, gvisor/tier2, firecracker/tier3 or bubblewrap/tier0`);
              else tier = t;
              break;
            }
            case "timeout":
              if (v.kind === "Literal" && v.type === "duration" && v.value > 0) timeoutMs = v.value;
              else if (v.kind === "Literal" && v.type === "number" && v.value > 0) timeoutMs = Math.round(v.value * 1000);
              else report(v.span, "invalid timeout: use a positive duration such as 30.seconds or 2m, or a number of seconds");
              break;
            case "max_memory_mb":
              if (v.kind === "Literal" && v.type === "number" && Number.isInteger(v.value) && v.value > 0) memoryMb = v.value;
              else report(v.span, "invalid max_memory_mb: use a positive whole number of megabytes");
              break;
            case "max_cpu_cores":
              if (v.kind === "Literal" && v.type === "number" && v.value > 0) cpuCores = v.value;
              else report(v.span, "invalid max_cpu_cores: use a positive number of cores, e.g. 1 or 0.5");
              break;
            case "memory":
            case "security":
            case "privacy":
              metadata[`dsl.${a.key}`] = attrString(attrData(v));
              break;
            default:
              report(a.span, `unknown with attribute '${a.key}' (known: ${WITH_ATTRS.join(", ")})`);
          }
        }
      }
    }
  }

  const schedule = schedules.find((s) => s.agent === decl.name && isExecutionMode(s));
  let execution_mode: ExecutionMode = { type: body ? "Ephemeral" : "Persistent" };
  if (schedule?.cron) {
    const runs = new Cron(schedule.cron, { paused: true, timezone: schedule.timezone }).nextRuns(2);
    const interval = runs.length === 2 ? Math.max(1, (runs[1] as Date).getTime() - (runs[0] as Date).getTime()) : 60_000;
    execution_mode = { type: "Scheduled", interval, cron: schedule.cron, timezone: schedule.timezone };
  }
  if (before.count > 0) return undefined;

  const allPolicies = [...policies, ...filePolicies];
  try {
    const config = parseAgentConfig({
      name: decl.name,
      dsl_source: source,
      execution_mode,
      ...(tier ? { security_tier: tier } : {}),
      resource_limits: {
        ...DEFAULT_RESOURCE_LIMITS,
        ...(memoryMb !== undefined ? { memory_mb: memoryMb } : {}),
        ...(cpuCores !== undefined ? { cpu_cores: cpuCores } : {}),
        ...(timeoutMs !== undefined ? { execution_timeout: timeoutMs } : {}),
      },
      capabilities,
      policies: allPolicies.map(restrictions).filter((p): p is Policy => p !== undefined),
      metadata,
    });
    return {
      name: decl.name,
      config,
      policies: allPolicies,
      params: decl.params ?? [],
      returnType: decl.returnType,
      body,
      functions,
      timeoutMs: config.resource_limits.execution_timeout,
      span: decl.span,
    };
  } catch (e) {
    if (!(e instanceof ConfigurationError)) throw e;
    for (const issue of e.issues) err(decl.nameSpan, `agent '${decl.name}': ${issue.path || "config"}: ${issue.message}`);
    return undefined;
  }
}

/**
 * Parses and extracts `source`, throwing `DSL_PARSE_ERROR` or `DSL_EXTRACTION_ERROR` with every diagnostic
 * (`details.diagnostics`, each `file:line:col: message`) when anything is wrong.
 */
export function compileDsl(source: string, file = "<dsl>"): DslFile {
  const parsed = parse(source);
  if (parsed.diagnostics.length) throw diagnosticsError("DSL_PARSE_ERROR", file, parsed.diagnostics);
  const { file: out, diagnostics } = extract(parsed.program, source, file);
  if (diagnostics.length) throw diagnosticsError("DSL_EXTRACTION_ERROR", file, diagnostics);
  return out;
}

export function diagnosticsError(code: "DSL_PARSE_ERROR" | "DSL_EXTRACTION_ERROR", file: string, ds: readonly Diagnostic[]): DslError {
  const lines = ds.map((d) => formatDiagnostic(file, d));
  const what = code === "DSL_PARSE_ERROR" ? "does not parse" : "cannot be configured";
  return new DslError(code, `${file} ${what}: ${lines.join("; ")}`, {
    details: {
      file,
      diagnostics: ds.map((d, i) => ({ location: `${file}:${d.span.start.line}:${d.span.start.col}`, line: d.span.start.line, col: d.span.start.col, message: d.message, text: lines[i] })),
    },
  });
}
