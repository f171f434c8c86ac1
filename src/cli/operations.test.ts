import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeApi, type TestApi } from "../../test/helpers/api.js";
import type { AgentId } from "../core/ids.js";
import { untilRead } from "../../test/helpers/wait.js";
import { runCli } from "../../test/helpers/cli.js";

let api: TestApi;
let url: string;

beforeAll(async () => {
  api = await makeApi({ scheduler: { retry_attempts: 0 } });
  url = await api.app.listen({ host: "127.0.0.1", port: 0 });
});
afterAll(async () => {
  await api.close();
});

const cli = (...args: string[]) => runCli(url, api.admin.slice("Bearer ".length), ...args);

async function agent(name: string, onTask?: (input: unknown) => unknown): Promise<AgentId> {
  const created = await cli("agents", "create", "--name", name);
  expect(created.code, created.err).toBe(0);
  const id = created.out.trim() as AgentId;
  if (onTask) api.runtime.executor.registerHandler(id, { onTask });
  return id;
}

describe("cli - exec", () => {
  it("exec --wait runs the agent (by name) with --input, shows progress and prints the result", async () => {
    await agent("cli-exec", (input) => ({ doubled: (input as { n: number }).n * 2 }));
    const ran = await cli("exec", "cli-exec", "--input", '{"n": 21}', "--wait");
    expect(ran.code, ran.err).toBe(0);
    expect(ran.out).toBe(`${JSON.stringify({ doubled: 42 }, null, 2)}\n`);
    expect(ran.err).toMatch(/: Completed \(\d+\.\ds\)\n$/);
    const asJson = JSON.parse((await cli("exec", "cli-exec", "-i", '{"n": 1}', "--wait", "--json")).out) as Record<string, unknown>;
    expect(asJson).toMatchObject({ status: "Completed", result: { doubled: 2 } });
    expect(asJson.execution_id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("exec without --wait prints the execution id, which the agent's history then holds", async () => {
    const id = await agent("cli-exec-nowait", () => "done");
    const started = await cli("exec", id);
    expect(started.code, started.err).toBe(0);
    const executionId = started.out.trim();
    expect(executionId).toMatch(/^[0-9a-f-]{36}$/);
    await api.runtime.scheduler.waitForTask(executionId as never);
    const history = (await api.call("GET", `/api/v1/agents/${id}/history`)).json() as { history: { execution_id: string; result: unknown }[] };
    expect(history.history[0]).toMatchObject({ execution_id: executionId, result: "done" });
  });

  it("a failed execution, bad input and unknown agents exit non-zero with the reason", async () => {
    await agent("cli-exec-fails", () => {
      throw new Error("cannot do that");
    });
    const failed = await cli("exec", "cli-exec-fails", "--wait");
    expect(failed.code).toBe(1);
    expect(failed.err).toContain("Failed: INTERNAL_ERROR: cannot do that");
    expect((await cli("exec", "cli-exec-fails", "--input", "[1]")).err).toContain("--input must be a JSON object");
    expect((await cli("exec", "cli-exec-fails", "--input", "{oops")).code).toBe(1);
    const unknown = await cli("exec", "no-such-agent");
    expect(unknown.code).toBe(1);
    expect(unknown.err).toContain('no agent named "no-such-agent"');
    const ghost = await cli("exec", "5b0e7f43-52c4-4a6a-9f43-1f1e2f3a4b5c");
    expect(ghost.err).toContain("AGENT_NOT_FOUND");
  });
});

describe("cli - send", () => {
  it("send delivers through the bus to the recipient's queue; --json prints the answer", async () => {
    const alice = await agent("cli-alice");
    const bob = await agent("cli-bob");
    const sent = await cli("send", "cli-bob", "hello bob", "--sender", "cli-alice", "--topic", "greetings", "--ttl", "600");
    expect(sent.code, sent.err).toBe(0);
    expect(sent.out).toMatch(/^[0-9a-f-]{36} {2}pending {2}ttl 600s\n$/);
    const asJson = JSON.parse((await cli("send", bob, "again", "--sender", alice, "--json")).out) as Record<string, unknown>;
    expect(asJson).toMatchObject({ status: "pending" });
    const drained = (await api.call("GET", `/api/v1/agents/${bob}/messages`)).json() as { messages: { sender: string; payload: string; topic: string }[] };
    expect(drained.messages.map((m) => [m.sender, m.topic, m.payload])).toEqual([
      [alice, "greetings", "hello bob"],
      [alice, "direct", "again"],
    ]);
    expect((await cli("send", "cli-bob", "x")).code).not.toBe(0);
  });
});

describe("cli - schedules", () => {
  it("create|list|show|pause|trigger|history|resume|delete over the API", async () => {
    await agent("cli-sched", () => "tick");
    const created = await cli("schedules", "create", "--name", "nightly", "--cron", "0 0 3 * * *", "--agent", "cli-sched", "--timezone", "Europe/Paris");
    expect(created.code, created.err).toBe(0);
    const [jobId] = created.out.trim().split(/\s+/);
    expect(jobId).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.out).toMatch(/next run \d{4}-\d{2}-\d{2}T\d{2}:00:00Z\n$/);
    const list = await cli("schedules", "list");
    expect(list.out.split("\n")[0]).toMatch(/^JOB_ID\s+NAME\s+CRON_EXPRESSION\s+TIMEZONE\s+STATUS\s+NEXT_RUN\s+RUN_COUNT$/);
    expect(list.out).toMatch(new RegExp(`${jobId}\\s+nightly\\s+0 0 3 \\* \\* \\*\\s+Europe/Paris\\s+Active\\s+\\S+\\s+0`));
    const show = await cli("schedules", "show", jobId as string);
    expect(show.out).toMatch(/status\s+Active/);
    expect(show.out).toMatch(/agent_name\s+cli-sched/);
    expect(show.out).toMatch(/next_runs\s+\S+Z, \S+Z, \S+Z/);
    expect((await cli("schedules", "pause", jobId as string)).out).toBe(`${jobId}  Paused\n`);
    const trig = await cli("schedules", "trigger", jobId as string);
    expect(trig.out).toMatch(new RegExp(`^${jobId}  Running  run [0-9a-f-]{36}\\n$`));
    const runId = trig.out.trim().split(/\s+/).pop() as string;
    const history = await untilRead(async () => (await cli("schedules", "history", jobId as string)).out, (out) => out.includes("Succeeded"));
    expect(history.split("\n")[0]).toMatch(/^RUN_ID\s+STATUS\s+TRIGGER\s+STARTED_AT\s+COMPLETED_AT\s+EXECUTION_TIME_MS\s+ERROR$/);
    expect(history).toMatch(new RegExp(`${runId}\\s+Succeeded\\s+manual`));
    expect((await cli("schedules", "resume", jobId as string)).out).toBe(`${jobId}  Active\n`);
    const asJson = JSON.parse((await cli("schedules", "list", "--json")).out) as { job_id: string; run_count: number }[];
    expect(asJson.find((j) => j.job_id === jobId)?.run_count).toBe(1);
    expect((await cli("schedules", "delete", jobId as string)).out).toBe(`${jobId}  deleted\n`);
    const gone = await cli("schedules", "show", jobId as string);
    expect(gone.code).toBe(1);
    expect(gone.err).toContain("SCHEDULE_NOT_FOUND");
  });

  it("a bad cron or unknown agent exits non-zero with the API's code", async () => {
    await agent("cli-sched-bad");
    const bad = await cli("schedules", "create", "--name", "x", "--cron", "*/5 * * * *", "--agent", "cli-sched-bad");
    expect(bad.code).toBe(1);
    expect(bad.err).toContain("CRON_INVALID");
    const unknown = await cli("schedules", "create", "--name", "x", "--cron", "0 * * * * *", "--agent", "nobody");
    expect(unknown.err).toContain("AGENT_NOT_FOUND");
    expect((await cli("schedules", "create", "--name", "x")).code).not.toBe(0);
  });
});
