/**
 * The operations commands: `exec` (run an agent once, optionally waiting for its result with a progress
 * display), `send` (a message through the bus) and `schedules ...` (cron jobs). Each talks to a running
 * runtime over the HTTP API; an agent may be named by id or by its (unique) name.
 */
import type { Command } from "commander";
import { ApiClient } from "./client.js";
import { json, record, table, type Io } from "./output.js";
import { action, collect } from "./remote.js";

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const FINISHED = new Set(["Completed", "Failed", "Cancelled", "TimedOut"]);
const POLL_MS = 250;

interface ExecutionRecord {
  execution_id: string;
  status: string;
  timestamp: string;
  result?: unknown;
  error?: { code: string; message: string };
}

/** An agent id as given, or the id of the one agent with this name. */
async function agentRef(client: ApiClient, ref: string): Promise<string> {
  if (UUID_RE.test(ref)) return ref;
  const matches = (await client.get<{ id: string; name: string }[]>("/agents")).filter((a) => a.name === ref);
  if (matches.length === 1) return (matches[0] as { id: string }).id;
  throw new Error(matches.length ? `${matches.length} agents are named ${JSON.stringify(ref)}; give an id` : `no agent named ${JSON.stringify(ref)}`);
}

function jsonOption(text: string | undefined, what: string): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new Error(`${what} must be JSON, got ${JSON.stringify(text.slice(0, 80))}`);
  }
}

/** Finds the execution in the agent's history, paging back if newer ones pushed it off the first page. */
async function findExecution(client: ApiClient, agentId: string, executionId: string): Promise<ExecutionRecord | undefined> {
  let cursor: string | null = null;
  do {
    const page: { history: ExecutionRecord[]; next_cursor: string | null } = await client.get(
      `/agents/${agentId}/history?limit=100${cursor ? `&cursor=${cursor}` : ""}`,
    );
    const found = page.history.find((h) => h.execution_id === executionId);
    if (found) return found;
    cursor = page.next_cursor;
  } while (cursor);
  return undefined;
}

function registerExec(program: Command, io: Io): void {
  program
    .command("exec <agent>")
    .description("run an agent once (a scheduler task); with --wait, follow it to its result")
    .option("-i, --input <json>", "the task's parameters, a JSON object", "{}")
    .option("-w, --wait", "wait for the result, showing progress")
    .option("--timeout <seconds>", "seconds the run may take")
    .option("--priority <p>", "Low | Normal | High | Critical")
    .option("--json", "print JSON instead of text")
    .action(
      action(io, async ({ client, io, asJson }, ref: string, opts: { input: string; wait?: boolean; timeout?: string; priority?: string }) => {
        const parameters = jsonOption(opts.input, "--input");
        if (typeof parameters !== "object" || parameters === null || Array.isArray(parameters)) throw new Error("--input must be a JSON object");
        const id = await agentRef(client, ref);
        const started = await client.post<{ execution_id: string; status: string }>(`/agents/${id}/execute`, {
          parameters,
          ...(opts.timeout !== undefined ? { timeout: Number(opts.timeout) } : {}),
          ...(opts.priority !== undefined ? { priority: opts.priority } : {}),
        });
        if (!opts.wait) return io.out(asJson ? json(started) : `${started.execution_id}\n`);
        const begun = Date.now();
        let shown = "";
        let rec: ExecutionRecord | undefined;
        for (;;) {
          rec = await findExecution(client, id, started.execution_id);
          if (!rec) throw new Error(`execution ${started.execution_id} is no longer in the agent's history`);
          if (!asJson && rec.status !== shown) {
            io.err(`  ${started.execution_id}: ${rec.status} (${((Date.now() - begun) / 1000).toFixed(1)}s)\n`);
            shown = rec.status;
          }
          if (FINISHED.has(rec.status)) break;
          await new Promise((r) => setTimeout(r, POLL_MS));
        }
        if (asJson) io.out(json(rec));
        else if (rec.status === "Completed") io.out(json(rec.result));
        if (rec.status !== "Completed") {
          throw new Error(`execution ${rec.execution_id} ${rec.status}${rec.error ? `: ${rec.error.code}: ${rec.error.message}` : ""}`);
        }
      }),
    );
}

function registerSend(program: Command, io: Io): void {
  program
    .command("send <agent> <payload>")
    .description("send a message to an agent through the bus (signed, encrypted, policy-checked)")
    .requiredOption("-s, --sender <agent>", "the sending agent (id or name)")
    .option("-t, --topic <topic>", "topic (default: a direct message)")
    .option("--ttl <seconds>", "time to live, clamped to 1..86400 and the bus's message_ttl")
    .option("--json", "print JSON instead of text")
    .action(
      action(io, async ({ client, io, asJson }, to: string, payload: string, opts: { sender: string; topic?: string; ttl?: string }) => {
        const recipient = await agentRef(client, to);
        const sender = await agentRef(client, opts.sender);
        const res = await client.post<{ message_id: string; status: string; ttl_seconds: number }>(`/agents/${recipient}/messages`, {
          sender,
          payload,
          ...(opts.topic !== undefined ? { topic: opts.topic } : {}),
          ...(opts.ttl !== undefined ? { ttl_seconds: Number(opts.ttl) } : {}),
        });
        io.out(asJson ? json(res) : `${res.message_id}  ${res.status}  ttl ${res.ttl_seconds}s\n`);
      }),
    );
}

function registerSchedules(program: Command, io: Io): void {
  const schedules = program.command("schedules").description("cron jobs that run agents");
  const path = (id: string) => `/schedules/${encodeURIComponent(id)}`;
  schedules
    .command("list")
    .description("list schedule jobs")
    .action(
      action(io, async ({ client, io, asJson }) => {
        const list = await client.get<Record<string, unknown>[]>("/schedules");
        io.out(asJson ? json(list) : table(list, ["job_id", "name", "cron_expression", "timezone", "status", "next_run", "run_count"]));
      }),
    );
  schedules
    .command("create")
    .description("create a cron job for an agent")
    .requiredOption("-n, --name <name>", "job name")
    .requiredOption("-c, --cron <expr>", "cron expression: 6 fields, seconds first, optional 7th for the year")
    .requiredOption("-a, --agent <agent>", "the agent to run (id or name)")
    .option("--timezone <tz>", "IANA timezone", "UTC")
    .option("--policy <id>", "policy asked before each run (repeatable)", collect)
    .option("--one-shot", "run once at the next fire time")
    .option("-i, --input <json>", "task input of each run (JSON)")
    .action(
      action(io, async ({ client, io, asJson }, opts: { name: string; cron: string; agent: string; timezone: string; policy?: string[]; oneShot?: boolean; input?: string }) => {
        const input = jsonOption(opts.input, "--input");
        const res = await client.post<{ job_id: string; next_run: string | null; status: string }>("/schedules", {
          name: opts.name,
          cron_expression: opts.cron,
          timezone: opts.timezone,
          ...(UUID_RE.test(opts.agent) ? { agent_id: opts.agent } : { agent_name: opts.agent }),
          ...(opts.policy ? { policy_ids: opts.policy } : {}),
          ...(opts.oneShot ? { one_shot: true } : {}),
          ...(input !== undefined ? { input } : {}),
        });
        io.out(asJson ? json(res) : `${res.job_id}  next run ${res.next_run ?? "-"}\n`);
      }),
    );
  schedules
    .command("show <job_id>")
    .description("a job's configuration, status, counters and next fire times")
    .action(
      action(io, async ({ client, io, asJson }, id: string) => {
        const detail = await client.get<Record<string, unknown>>(path(id));
        const next = await client.get<{ next_runs: string[] }>(`${path(id)}/next-runs?count=3`);
        io.out(asJson ? json({ ...detail, next_runs: next.next_runs }) : record({ ...detail, next_runs: next.next_runs.join(", ") || "-" }));
      }),
    );
  for (const verb of ["pause", "resume", "trigger"] as const) {
    schedules
      .command(`${verb} <job_id>`)
      .description(verb === "trigger" ? "run the job now" : `${verb} the job`)
      .action(
        action(io, async ({ client, io, asJson }, id: string) => {
          const res = await client.post<{ job_id: string; status: string; run_id?: string }>(`${path(id)}/${verb}`);
          io.out(asJson ? json(res) : `${res.job_id}  ${res.status}${res.run_id ? `  run ${res.run_id}` : ""}\n`);
        }),
      );
  }
  schedules
    .command("delete <job_id>")
    .description("delete the job")
    .action(
      action(io, async ({ client, io, asJson }, id: string) => {
        const res = await client.delete<{ job_id: string; deleted: boolean }>(path(id));
        io.out(asJson ? json(res) : `${res.job_id}  deleted\n`);
      }),
    );
  schedules
    .command("history <job_id>")
    .description("the job's runs, newest first")
    .option("--limit <n>", "runs to show", "20")
    .action(
      action(io, async ({ client, io, asJson }, id: string, opts: { limit: string }) => {
        const res = await client.get<{ history: Record<string, unknown>[] }>(`${path(id)}/history?limit=${encodeURIComponent(opts.limit)}`);
        io.out(asJson ? json(res.history) : table(res.history, ["run_id", "status", "trigger", "started_at", "completed_at", "execution_time_ms", "error"]));
      }),
    );
  for (const leaf of schedules.commands) leaf.option("--json", "print JSON instead of tables");
}

/** Adds `exec`, `send` and `schedules` (they use the program's --url and --key). */
export function registerOperations(program: Command, io: Io): void {
  registerExec(program, io);
  registerSend(program, io);
  registerSchedules(program, io);
}
