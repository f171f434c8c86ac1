/**
 * End to end over real HTTP: a runtime and its API server on a port; an agent whose entrypoint is the example
 * agent program (a real process in its Tier0 sandbox) is created, executed, read back (history, status),
 * messages are sent and drained, a cron job runs it every second on the real clock, and a two-step workflow
 * runs it twice through the scheduler. Waits are polls with a bound; nothing is timed.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../core/logger.js";
import { createRuntime, type Runtime } from "../runtime.js";
import { MemoryApiKeyStore } from "./keys/index.js";
import { createApiServer } from "./server.js";
import { tier0Requirement } from "../../test/helpers/requirements.js";
import { untilRead } from "../../test/helpers/wait.js";

const ECHO_AGENT = readFileSync(fileURLToPath(new URL("../../examples/agents/echo-agent.mjs", import.meta.url)), "utf8");

const dataDir = mkdtempSync(join(tmpdir(), "symbiont-e2e-"));
// Sandboxed processes run as an unprivileged uid that must be able to reach the workspaces.
chmodSync(dataDir, 0o755);
const tier0 = await tier0Requirement(() => createRuntime({ config: { data_dir: dataDir, log_level: "silent" }, logger: silentLogger() }));

let runtime: Runtime;
let app: FastifyInstance;
let base: string;
let auth: string;

async function http<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: { authorization: auth, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as T };
}

interface Execution {
  execution_id: string;
  status: string;
  result?: unknown;
  error?: unknown;
}

describe.skipIf(!tier0.available)("api - end to end over HTTP with a sandboxed agent program", () => {
  let echo: string;
  let inbox: string;

  beforeAll(async () => {
    runtime = await createRuntime({
      config: {
        data_dir: dataDir,
        log_level: "silent",
        scheduler: { retry_attempts: 0 },
        lifecycle: { enable_auto_recovery: false },
        api: { key_store: "memory", rate_limit: { enabled: false } },
      },
      logger: silentLogger(),
    });
    app = await createApiServer(runtime, { keyStore: new MemoryApiKeyStore() });
    base = await app.listen({ host: "127.0.0.1", port: 0 });
    auth = `Bearer ${(await app.apiKeys?.create({ name: "e2e", admin: true }))?.token ?? ""}`;
  });

  afterAll(async () => {
    await app?.close();
    await runtime?.shutdown();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("creates an agent with an entrypoint, executes it, and reads its history and status", async () => {
    const created = await http<{ id: string; status: string }>("POST", "/agents", {
      name: "e2e-echo",
      entrypoint: { command: process.execPath, args: ["--input-type=module", "-e", ECHO_AGENT] },
    });
    expect(created.status).toBe(200);
    expect(created.body.status).toBe("scheduled");
    echo = created.body.id;
    const peer = await http<{ id: string }>("POST", "/agents", { name: "e2e-inbox" });
    inbox = peer.body.id;

    const started = await http<{ execution_id: string; status: string }>("POST", `/agents/${echo}/execute`, { parameters: { text: "hello", notify: inbox } });
    expect(started.status).toBe(200);
    expect(started.body.status).toBe("execution_started");
    const { execution_id } = started.body;
    const history = await untilRead(
      async () => (await http<{ history: Execution[] }>("GET", `/agents/${echo}/history`)).body.history,
      (h) => h.some((e) => e.execution_id === execution_id && e.status !== "Pending" && e.status !== "Running"),
      30_000,
    );
    expect(history[0]).toMatchObject({ execution_id, status: "Completed", result: { reply: "echo: hello", length: 5 } });

    const status = await http<Record<string, unknown>>("GET", `/agents/${echo}/status`);
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({ agent_id: echo, state: "Running", execution_mode: "Persistent" });
    expect(status.body.resource_usage).toEqual({ memory_bytes: expect.any(Number), cpu_percent: expect.any(Number), active_tasks: expect.any(Number) });
  });

  it("sends and drains messages: the agent's own message and one posted over the API", async () => {
    const sent = await http<{ message_id: string; status: string }>("POST", `/agents/${inbox}/messages`, { sender: echo, payload: "posted", topic: "api" });
    expect(sent.body.status).toBe("pending");
    const drained = await untilRead(
      async () => (await http<{ messages: { sender: string; topic: string; payload: string; message_id: string }[] }>("GET", `/agents/${inbox}/messages`)).body.messages,
      (m) => m.length > 0,
      30_000,
    );
    const all = [...drained];
    if (all.length < 2) all.push(...(await http<{ messages: typeof drained }>("GET", `/agents/${inbox}/messages`)).body.messages);
    expect(all.map((m) => [m.sender, m.topic, m.payload]).sort()).toEqual([
      [echo, "api", "posted"],
      [echo, "echo", JSON.stringify({ text: "hello" })],
    ]);
    expect((await http("GET", `/messages/${sent.body.message_id}/status`)).body).toEqual({ message_id: sent.body.message_id, status: "delivered" });
  });

  it("a cron schedule (every second, real clock) runs the agent; the run is in both histories", async () => {
    const created = await http<{ job_id: string; status: string; next_run: string }>("POST", "/schedules", {
      name: "e2e-every-second",
      cron_expression: "* * * * * *",
      agent_name: "e2e-echo",
      input: { text: "tick" },
    });
    expect(created.status).toBe(201);
    const job = created.body.job_id;
    const runs = await untilRead(
      async () => (await http<{ history: { run_id: string; status: string }[] }>("GET", `/schedules/${job}/history`)).body.history,
      (h) => h.some((r) => r.status === "Succeeded"),
      30_000,
    );
    const run = runs.find((r) => r.status === "Succeeded") as { run_id: string };
    const tasks = (await http<{ history: Execution[] }>("GET", `/agents/${echo}/history?limit=100`)).body.history;
    expect(tasks.find((t) => t.execution_id === run.run_id)).toMatchObject({ status: "Completed", result: { reply: "echo: tick", length: 4 } });
    expect(((await http("GET", `/schedules/${job}`)).body.run_count as number) >= 1).toBe(true);
    expect((await http("DELETE", `/schedules/${job}`)).body).toEqual({ job_id: job, deleted: true });
  });

  it("executes a two-step workflow over POST /workflows/execute, each step a task of the agent program", async () => {
    const reg = await http("POST", "/workflows", {
      id: "e2e-twice",
      steps: [
        { id: "first", agent: { name: "e2e-echo" }, input: { text: "{{ parameters.word }}" } },
        { id: "second", agent: { id: echo }, input: { text: "{{ steps.first.output.reply }}" } },
      ],
      output: "{{ steps.second.output }}",
    });
    expect(reg.status).toBe(201);
    const res = await http<{ result: string; output: unknown; execution_id: string }>("POST", "/workflows/execute", { workflow_id: "e2e-twice", parameters: { word: "wf" } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ result: "success", output: { reply: "echo: echo: wf", length: 8 } });
    const exec = (await http<{ steps: { step_id: string; status: string }[] }>("GET", `/workflows/executions/${res.body.execution_id}`)).body;
    expect(exec.steps.map((s) => [s.step_id, s.status])).toEqual([
      ["first", "succeeded"],
      ["second", "succeeded"],
    ]);
  });
});
