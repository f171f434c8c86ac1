/**
 * The client commands (`agents`, `keys`, `workflows`): each talks to a running runtime over the HTTP API.
 */
import { readFileSync } from "node:fs";
import { extname } from "node:path";
import type { Command } from "commander";
import { parse as parseYaml } from "yaml";
import { ApiClient } from "./client.js";
import { json, record, table, type Io } from "./output.js";

export interface GlobalOptions {
  readonly url?: string;
  readonly key?: string;
  readonly json?: boolean;
}

export type Ctx = { client: ApiClient; io: Io; asJson: boolean };

export function context(cmd: Command, io: Io): Ctx {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  const url = g.url ?? process.env.SYMBIONT_URL ?? "http://127.0.0.1:8080";
  const key = g.key ?? process.env.SYMBIONT_API_KEY;
  return { client: new ApiClient({ url, key }), io, asJson: Boolean(g.json) };
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function pairs(list: readonly string[] | undefined, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list ?? []) {
    const i = item.indexOf("=");
    if (i <= 0) throw new Error(`${what} must be key=value, got ${JSON.stringify(item)}`);
    out[item.slice(0, i)] = item.slice(i + 1);
  }
  return out;
}

/** `--param k=v` values are read as JSON when they parse (numbers, booleans, objects), else as strings. */
function params(list: readonly string[] | undefined): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(pairs(list, "--param")).map(([k, v]) => {
      try {
        return [k, JSON.parse(v)];
      } catch {
        return [k, v];
      }
    }),
  );
}

export function action(io: Io, fn: (ctx: Ctx, ...args: never[]) => Promise<void>) {
  return async function run(this: Command, ...args: unknown[]): Promise<void> {
    // commander passes the positional arguments, then the options, then the command.
    await fn(context(this, io), ...(args.slice(0, -1) as never[]));
  };
}

function registerAgents(program: Command, io: Io): void {
  const agents = program.command("agents").description("manage agents on a running runtime");
  agents
    .command("list")
    .description("list agents")
    .action(
      action(io, async ({ client, io, asJson }) => {
        const list = await client.get<{ id: string; name: string; state: string }[]>("/agents");
        io.out(asJson ? json(list) : table(list, ["id", "name", "state"]));
      }),
    );
  agents
    .command("create")
    .description("create, initialize and start an agent")
    .requiredOption("-n, --name <name>", "agent name")
    .option("--dsl-file <file>", "DSL source file")
    .option("--mode <mode>", "Persistent | Ephemeral | EventDriven")
    .option("--interval <seconds>", "run every N seconds (Scheduled)")
    .option("--cron <expr>", "6-field cron expression, seconds first (CronScheduled)")
    .option("--timezone <tz>", "timezone for --cron", "UTC")
    .option("--capability <name>", "capability (repeatable)", collect)
    .option("--meta <key=value>", "metadata entry (repeatable)", collect)
    .option("--tier <tier>", "security tier: Tier0 | Tier1 | Tier2 | Tier3")
    .option("--priority <p>", "Low | Normal | High | Critical")
    .option("--memory-mb <mb>", "memory limit in MiB")
    .option("--entrypoint <command>", "program the agent runs")
    .option("--arg <arg>", "entrypoint argument (repeatable)", collect)
    .action(
      action(io, async ({ client, io, asJson }, opts: Record<string, string | string[] | undefined>) => {
        const body: Record<string, unknown> = { name: opts.name };
        if (opts.dslFile) body.dsl = readFileSync(opts.dslFile as string, "utf8");
        if (opts.cron) body.execution_mode = { CronScheduled: { cron_expression: opts.cron, timezone: opts.timezone } };
        else if (opts.interval) {
          const secs = Number(opts.interval);
          if (!Number.isFinite(secs) || secs <= 0) throw new Error("--interval must be a positive number of seconds");
          body.execution_mode = { Scheduled: { interval: { secs: Math.floor(secs), nanos: Math.round((secs % 1) * 1e9) } } };
        } else if (opts.mode) body.execution_mode = opts.mode;
        if (opts.capability) body.capabilities = opts.capability;
        if (opts.meta) body.metadata = pairs(opts.meta as string[], "--meta");
        if (opts.tier) body.security_tier = opts.tier;
        if (opts.priority) body.priority = opts.priority;
        if (opts.memoryMb) body.resource_limits = { memory_mb: Number(opts.memoryMb) };
        if (opts.entrypoint) body.entrypoint = { command: opts.entrypoint, args: opts.arg ?? [] };
        const res = await client.post<{ id: string; status: string }>("/agents", body);
        io.out(asJson ? json(res) : `${res.id}\n`);
      }),
    );
  agents
    .command("status <id>")
    .description("an agent's state, last activity and resource usage")
    .action(
      action(io, async ({ client, io, asJson }, id: string) => {
        const s = await client.get<Record<string, unknown> & { resource_usage: Record<string, unknown> }>(`/agents/${encodeURIComponent(id)}/status`);
        if (asJson) return io.out(json(s));
        io.out(record({ agent_id: s.agent_id, state: s.state, last_activity: s.last_activity, ...s.resource_usage, usage_source: s.usage_source, execution_mode: s.execution_mode }));
      }),
    );
  for (const verb of ["start", "stop", "suspend", "resume", "restart"] as const) {
    agents
      .command(`${verb} <id>`)
      .description(`${verb} an agent`)
      .action(
        action(io, async ({ client, io, asJson }, id: string) => {
          const res = await client.post<{ id: string; state: string }>(`/agents/${encodeURIComponent(id)}/${verb}`);
          io.out(asJson ? json(res) : `${res.id}  ${res.state}\n`);
        }),
      );
  }
  agents
    .command("terminate <id>")
    .description("terminate an agent and remove it")
    .action(
      action(io, async ({ client, io, asJson }, id: string) => {
        const res = await client.delete<{ id: string; status: string }>(`/agents/${encodeURIComponent(id)}`);
        io.out(asJson ? json(res) : `${res.id}  ${res.status}\n`);
      }),
    );
}

function registerKeys(program: Command, io: Io): void {
  const keys = program.command("keys").description("manage API keys (admin key required)");
  const columns = ["key_id", "name", "admin", "agent_ids", "created_at", "revoked_at", "last_used_at"];
  keys
    .command("create")
    .description("create an API key; its secret is printed once")
    .requiredOption("-n, --name <name>", "what the key is for")
    .option("--admin", "may manage keys and workflows")
    .option("--agent <id>", "scope the key to this agent (repeatable)", collect)
    .option("--expires-in <seconds>", "expire after this many seconds")
    .action(
      action(io, async ({ client, io, asJson }, opts: { name: string; admin?: boolean; agent?: string[]; expiresIn?: string }) => {
        const res = await client.post<Record<string, unknown> & { key: string }>("/keys", {
          name: opts.name,
          admin: Boolean(opts.admin),
          ...(opts.agent ? { agent_ids: opts.agent } : {}),
          ...(opts.expiresIn ? { expires_in_seconds: Number(opts.expiresIn) } : {}),
        });
        io.out(asJson ? json(res) : `${res.key}\n`);
        if (!asJson) io.err(`key ${String(res.key_id)} created; the secret above is not shown again\n`);
      }),
    );
  keys
    .command("list")
    .description("list API keys")
    .action(
      action(io, async ({ client, io, asJson }) => {
        const res = await client.get<{ keys: Record<string, unknown>[] }>("/keys");
        io.out(asJson ? json(res.keys) : table(res.keys, columns));
      }),
    );
  keys
    .command("revoke <key_id>")
    .description("revoke an API key")
    .action(
      action(io, async ({ client, io, asJson }, keyId: string) => {
        const res = await client.delete<Record<string, unknown>>(`/keys/${encodeURIComponent(keyId)}`);
        io.out(asJson ? json(res) : `${String(res.key_id)}  revoked\n`);
      }),
    );
}

interface Execution {
  execution_id: string;
  status: string;
  output: unknown;
  steps: { step_id: string; status: string; attempts: number }[];
}

function registerWorkflows(program: Command, io: Io): void {
  const workflows = program.command("workflows").description("register and run workflows");
  workflows
    .command("list")
    .description("list registered workflows")
    .action(
      action(io, async ({ client, io, asJson }) => {
        const res = await client.get<{ workflows: Record<string, unknown>[] }>("/workflows");
        io.out(asJson ? json(res.workflows) : table(res.workflows, ["id", "name", "steps", "source"]));
      }),
    );
  workflows
    .command("register <file>")
    .description("register a workflow from a YAML or JSON file (admin key)")
    .action(
      action(io, async ({ client, io, asJson }, file: string) => {
        const text = readFileSync(file, "utf8");
        const def: unknown = extname(file) === ".json" ? JSON.parse(text) : parseYaml(text);
        const res = await client.post<Record<string, unknown>>("/workflows", def);
        io.out(asJson ? json(res) : `${String(res.id)}  registered (${String(res.steps)} steps)\n`);
      }),
    );
  workflows
    .command("run <workflow_id>")
    .description("execute a workflow, showing step progress, and print its output")
    .option("-p, --param <key=value>", "parameter (repeatable; values read as JSON when they parse)", collect)
    .option("--params-json <json>", "all parameters as one JSON object")
    .option("--agent <id>", "agent for steps that name none")
    .option("--no-wait", "print the execution id and return at once")
    .action(
      action(io, async ({ client, io, asJson }, id: string, opts: { param?: string[]; paramsJson?: string; agent?: string; wait: boolean }) => {
        const parameters = { ...(opts.paramsJson ? (JSON.parse(opts.paramsJson) as Record<string, unknown>) : {}), ...params(opts.param) };
        const started = await client.post<{ execution_id: string }>("/workflows/execute", {
          workflow_id: id,
          parameters,
          async: true,
          ...(opts.agent ? { agent_id: opts.agent } : {}),
        });
        if (!opts.wait) return io.out(asJson ? json(started) : `${started.execution_id}\n`);
        const seen = new Map<string, string>();
        let exec: Execution;
        for (;;) {
          exec = await client.get<Execution>(`/workflows/executions/${started.execution_id}`);
          if (!asJson) {
            for (const s of exec.steps) {
              const shown = `${s.status}${s.attempts > 1 ? ` (attempt ${s.attempts})` : ""}`;
              if (seen.get(s.step_id) !== shown && s.status !== "pending") io.err(`  step ${s.step_id}: ${shown}\n`);
              seen.set(s.step_id, shown);
            }
          }
          if (exec.status !== "running") break;
          await new Promise((r) => setTimeout(r, 250));
        }
        const result = { result: exec.status === "success" ? "success" : "failure", output: exec.output, execution_id: exec.execution_id };
        io.out(asJson ? json(result) : `${result.result}\n${json(result.output)}`);
        if (result.result !== "success") throw new Error(`workflow ${id} failed (execution ${exec.execution_id})`);
      }),
    );
}

/** Adds the client commands and their shared options to `program`. */
export function registerRemote(program: Command, io: Io): void {
  program
    .option("--url <url>", "runtime URL (env SYMBIONT_URL; default http://127.0.0.1:8080)")
    .option("--key <key>", "API key (env SYMBIONT_API_KEY)");
  registerAgents(program, io);
  registerKeys(program, io);
  registerWorkflows(program, io);
  // --json belongs to each client command rather than to the program, so that other commands (`status`)
  // keep their own --json.
  for (const group of program.commands.filter((c) => ["agents", "keys", "workflows"].includes(c.name()))) {
    for (const leaf of group.commands) leaf.option("--json", "print JSON instead of tables");
  }
}
