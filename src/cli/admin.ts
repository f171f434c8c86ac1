/**
 * Administrative client commands (admin key): `policies`, `dead-letters` and `sandboxes`, each talking to a
 * running runtime over the HTTP API. Tables for people, `--json` for scripts.
 */
import { readFileSync } from "node:fs";
import { basename, extname } from "node:path";
import type { Command } from "commander";
import { parse as parseYaml } from "yaml";
import { json, record, table, type Io } from "./output.js";
import { action, collect, pairs } from "./remote.js";

interface Policy {
  id: string;
  name: string;
  description: string;
  priority: number;
  enabled: boolean;
  language: "rules" | "cedar";
  rules: Record<string, unknown>[];
  cedar: string | null;
}

interface Decision {
  decision: string;
  allowed: boolean;
  policy_id: string;
  matched_rules: Record<string, unknown>[];
  reasons: string[];
}

interface Paged {
  next_cursor: string | null;
}

/** A policy file: YAML or JSON holding the policy's fields, or a `.cedar` file holding Cedar text. */
function readPolicyFile(file: string): Record<string, unknown> {
  const text = readFileSync(file, "utf8");
  const ext = extname(file).toLowerCase();
  if (ext === ".cedar") return { cedar: text };
  const parsed: unknown = ext === ".json" ? JSON.parse(text) : parseYaml(text);
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error(`${file}: expected an object with the policy's fields`);
  return parsed as Record<string, unknown>;
}

function pageQuery(opts: { limit?: string; cursor?: string }, extra: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) q.set(k, v);
  if (opts.limit) q.set("limit", opts.limit);
  if (opts.cursor) q.set("cursor", opts.cursor);
  const s = q.toString();
  return s ? `?${s}` : "";
}

function morePages(io: Io, page: Paged): void {
  if (page.next_cursor) io.err(`more: --cursor ${page.next_cursor}\n`);
}

function showPolicy(io: Io, p: Policy): void {
  io.out(record({ id: p.id, name: p.name, description: p.description || null, language: p.language, priority: p.priority, enabled: p.enabled }));
  if (p.language === "cedar") io.out(`\n${p.cedar ?? ""}${p.cedar?.endsWith("\n") ? "" : "\n"}`);
  else io.out(`\n${table(p.rules, ["effect", "action", "condition", "description"])}`);
}

function registerPolicies(program: Command, io: Io): void {
  const policies = program.command("policies").description("manage runtime-wide policies (admin key)");
  policies
    .command("list")
    .description("list policies, highest priority first")
    .action(
      action(io, async ({ client, io, asJson }) => {
        const res = await client.get<{ policies: Policy[]; enforced: boolean }>("/policies");
        if (asJson) return io.out(json(res));
        io.out(table(res.policies.map((p) => ({ ...p, rules: p.language === "rules" ? p.rules.length : "-" })), ["id", "name", "language", "priority", "enabled", "rules"]));
        if (!res.enforced) io.err("policy.enabled is off: these policies are not enforced\n");
      }),
    );
  policies
    .command("show <id>")
    .description("one policy with its rules or Cedar text")
    .action(
      action(io, async ({ client, io, asJson }, id: string) => {
        const p = await client.get<Policy>(`/policies/${encodeURIComponent(id)}`);
        if (asJson) io.out(json(p));
        else showPolicy(io, p);
      }),
    );
  policies
    .command("create")
    .description("create a policy from a YAML/JSON file of its fields, or a .cedar file")
    .requiredOption("-f, --file <file>", "policy file (.yaml, .yml, .json or .cedar)")
    .option("--id <id>", "policy id (default: the file's, else minted)")
    .option("--name <name>", "policy name (default: the file's, else the file name)")
    .action(
      action(io, async ({ client, io, asJson }, opts: { file: string; id?: string; name?: string }) => {
        const body = readPolicyFile(opts.file);
        if (opts.id) body.id = opts.id;
        body.name = opts.name ?? body.name ?? basename(opts.file, extname(opts.file));
        const p = await client.post<Policy>("/policies", body);
        io.out(asJson ? json(p) : `${p.id}\n`);
      }),
    );
  policies
    .command("update <id>")
    .description("update a policy with the fields in a YAML/JSON file, or replace its Cedar text with a .cedar file")
    .requiredOption("-f, --file <file>", "policy file (.yaml, .yml, .json or .cedar)")
    .action(
      action(io, async ({ client, io, asJson }, id: string, opts: { file: string }) => {
        const { id: _ignored, ...body } = readPolicyFile(opts.file);
        const p = await client.put<Policy>(`/policies/${encodeURIComponent(id)}`, body);
        io.out(asJson ? json(p) : `${p.id}  updated\n`);
      }),
    );
  policies
    .command("delete <id>")
    .description("delete a policy")
    .action(
      action(io, async ({ client, io, asJson }, id: string) => {
        const res = await client.delete<{ id: string; status: string }>(`/policies/${encodeURIComponent(id)}`);
        io.out(asJson ? json(res) : `${res.id}  ${res.status}\n`);
      }),
    );
  policies
    .command("evaluate [policy_id]")
    .description("the decision for an agent's operation: every applicable policy, or only policy_id")
    .requiredOption("--agent <id>", "the agent asking")
    .requiredOption("--operation <action>", "e.g. message.send, sandbox.network")
    .option("--resource <resource>", "topic, path, command or recipient")
    .option("--tier <tier>", "evaluate as if the agent ran at this tier")
    .option("--meta <key=value>", "metadata merged over the agent's (repeatable)", collect)
    .action(
      action(io, async ({ client, io, asJson }, policyId: string | undefined, opts: { agent: string; operation: string; resource?: string; tier?: string; meta?: string[] }) => {
        const context = {
          agent_id: opts.agent,
          operation: opts.operation,
          ...(opts.resource !== undefined ? { resource: opts.resource } : {}),
          ...(opts.tier !== undefined ? { security_tier: opts.tier } : {}),
          ...(opts.meta ? { metadata: pairs(opts.meta, "--meta") } : {}),
        };
        const path = policyId ? `/policies/${encodeURIComponent(policyId)}/evaluate` : "/policies/evaluate";
        const d = await client.post<Decision>(path, { context });
        if (asJson) return io.out(json(d));
        io.out(`${d.allowed ? "allowed" : "denied"} (${d.decision}, policy ${d.policy_id})\n`);
        for (const r of d.reasons) io.out(`  ${r}\n`);
        if (d.matched_rules.length) io.out(`\n${table(d.matched_rules, ["policy_id", "rule_index", "effect", "action", "condition"])}`);
      }),
    );
}

function registerDeadLetters(program: Command, io: Io): void {
  const dl = program.command("dead-letters").description("inspect and replay undeliverable messages (admin key)");
  dl.command("list")
    .description("dead letters, oldest first, with why each died")
    .option("--agent <id>", "letters from or to this agent")
    .option("--code <code>", "only this reason code")
    .option("--limit <n>", "per page (1-1000)")
    .option("--cursor <cursor>", "continue after a previous page")
    .action(
      action(io, async ({ client, io, asJson }, opts: { agent?: string; code?: string; limit?: string; cursor?: string }) => {
        const page = await client.get<Paged & { dead_letters: Record<string, unknown>[] }>(`/dead-letters${pageQuery(opts, { agent_id: opts.agent, code: opts.code })}`);
        if (asJson) return io.out(json(page));
        io.out(table(page.dead_letters, ["id", "code", "from", "to", "topic", "attempts", "replayable", "dead_at", "reason"]));
        morePages(io, page);
      }),
    );
  dl.command("replay <id>")
    .description("send a dead letter's message again (as a new message) and remove it from the queue")
    .action(
      action(io, async ({ client, io, asJson }, id: string) => {
        const res = await client.post<{ id: string; message_id: string; status: string }>(`/dead-letters/${encodeURIComponent(id)}/replay`);
        io.out(asJson ? json(res) : `${res.id}  replayed as ${res.message_id}\n`);
      }),
    );
  dl.command("delete <id>")
    .description("discard a dead letter")
    .action(
      action(io, async ({ client, io, asJson }, id: string) => {
        const res = await client.delete<{ id: string; status: string }>(`/dead-letters/${encodeURIComponent(id)}`);
        io.out(asJson ? json(res) : `${res.id}  ${res.status}\n`);
      }),
    );
}

type SandboxRow = Record<string, unknown> & { resource_usage: Record<string, unknown> | null };

function sandboxRow(s: SandboxRow): Record<string, unknown> {
  const u = s.resource_usage;
  return { ...s, memory_mb: u ? Math.round(((u.memory_bytes as number) / 1048576) * 10) / 10 : null, cpu_time_ms: u?.cpu_time_ms, pids: u?.pids };
}

function registerSandboxes(program: Command, io: Io): void {
  const sandboxes = program.command("sandboxes").description("inspect sandboxes (admin key)");
  sandboxes
    .command("list")
    .description("sandboxes not yet destroyed, oldest first")
    .option("--agent <id>", "only this agent's")
    .option("--state <state>", "Created | Starting | Running | Stopped | Failed")
    .option("--usage", "measure each sandbox's memory, CPU time and processes")
    .option("--limit <n>", "per page (1-1000)")
    .option("--cursor <cursor>", "continue after a previous page")
    .action(
      action(io, async ({ client, io, asJson }, opts: { agent?: string; state?: string; usage?: boolean; limit?: string; cursor?: string }) => {
        const query = pageQuery(opts, { agent_id: opts.agent, state: opts.state, usage: opts.usage ? "true" : undefined });
        const page = await client.get<Paged & { sandboxes: SandboxRow[] }>(`/sandboxes${query}`);
        if (asJson) return io.out(json(page));
        const columns = ["id", "agent_id", "tier", "backend", "state", "created_at", ...(opts.usage ? ["memory_mb", "cpu_time_ms", "pids"] : [])];
        io.out(table(page.sandboxes.map(sandboxRow), columns));
        morePages(io, page);
      }),
    );
  sandboxes
    .command("show <id>")
    .description("one sandbox with its usage measured now")
    .action(
      action(io, async ({ client, io, asJson }, id: string) => {
        const s = await client.get<SandboxRow>(`/sandboxes/${encodeURIComponent(id)}`);
        if (asJson) return io.out(json(s));
        const { resource_usage, ...rest } = s;
        io.out(record({ ...rest, ...(resource_usage ?? {}) }));
      }),
    );
}

/** Adds `policies`, `dead-letters` and `sandboxes`; the shared `--url`/`--key` come from `registerRemote`. */
export function registerAdmin(program: Command, io: Io): void {
  registerPolicies(program, io);
  registerDeadLetters(program, io);
  registerSandboxes(program, io);
  for (const group of program.commands.filter((c) => ["policies", "dead-letters", "sandboxes"].includes(c.name()))) {
    for (const leaf of group.commands) leaf.option("--json", "print JSON instead of tables");
  }
}
