/**
 * Agent programs run for real in Tier0 sandboxes (bubblewrap + cgroups): the example agent answers and sends,
 * persistent processes are reused and restarted, timeouts and cancels leave no process behind.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SystemClock } from "../core/clock.js";
import { MessageId, type AgentId } from "../core/ids.js";
import { payloadBytes } from "./protocol.js";
import { parseAgentConfig, type AgentConfigInput } from "../core/schemas.js";
import { silentLogger } from "../core/logger.js";
import { createRuntime, type Runtime } from "../runtime.js";
import { tier0Requirement } from "../../test/helpers/requirements.js";
import { until } from "../../test/helpers/wait.js";
import { LocalMessaging } from "../../test/helpers/execution.js";

const EXAMPLE = fileURLToPath(new URL("../../examples/agents/echo-agent.mjs", import.meta.url));
const NODE = process.execPath;

/** Host processes whose command line contains `marker` (sandboxed processes are host processes too). */
function hostProcesses(marker: string): string[] {
  const out = execFileSync("ps", ["-eo", "args"], { encoding: "utf8" });
  return out.split("\n").filter((l) => l.includes(marker) && !l.includes("ps -eo"));
}


const dataDir = mkdtempSync(join(tmpdir(), "symbiont-agents-"));
// Sandboxed processes run as an unprivileged uid that must be able to reach the workspaces.
chmodSync(dataDir, 0o755);
const tier0 = await tier0Requirement(() => createRuntime({ config: { data_dir: dataDir, log_level: "silent" }, logger: silentLogger() }));

describe.skipIf(!tier0.available)("agents - sandboxed programs (Tier0)", () => {
  let runtime: Runtime;
  let messaging: LocalMessaging;

  beforeAll(async () => {
    messaging = new LocalMessaging();
    runtime = await createRuntime({
      config: {
        data_dir: dataDir,
        log_level: "silent",
        scheduler: { retry_attempts: 0, agent_shutdown_grace: 500 },
        error_handler: { max_recovery_attempts: 10, backoff_jitter: 0 },
        lifecycle: { max_restart_attempts: 2, enable_auto_recovery: false },
      },
      clock: new SystemClock(),
      logger: silentLogger(),
      messaging,
    });
  });

  afterAll(async () => {
    await runtime.shutdown();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function programAgent(config: Partial<AgentConfigInput>, upload = false): Promise<AgentId> {
    const agent = await runtime.lifecycle.createAgent(parseAgentConfig({ name: "program", ...config }));
    await runtime.lifecycle.initializeAgent(agent.id);
    if (upload) {
      const sid = await runtime.executor.ensureSandbox(agent.id);
      await runtime.sandboxes.uploadFile(sid, EXAMPLE, "echo-agent.mjs");
    }
    return agent.id;
  }

  it("ephemeral - the example agent answers a task and sends a message, then the agent is Completed", async () => {
    const peer = await programAgent({ execution_mode: { type: "Persistent" } });
    const received: string[] = [];
    messaging.listen(peer, async (m) => void received.push(`${m.topic}:${Buffer.from(m.payload).toString()}`));
    const id = await programAgent({ execution_mode: { type: "Ephemeral" }, entrypoint: { command: NODE, args: ["/workspace/echo-agent.mjs"] } }, true);
    const task = await runtime.scheduler.scheduleTask({ agent_id: id, input: { text: "hi there", notify: peer } });
    const status = await runtime.scheduler.waitForTask(task.id);
    expect(status).toMatchObject({ state: "Completed", result: { reply: "echo: hi there", length: 8 } });
    expect(received).toEqual(['echo:{"text":"hi there"}']);
    await until(async () => (await runtime.lifecycle.getAgentState(id)) === "Completed");
    expect(runtime.executor.processCount()).toBe(0);
    // A second task gets a fresh process in the same sandbox.
    const again = await runtime.scheduler.scheduleTask({ agent_id: id, input: { text: "x" } });
    expect(await runtime.scheduler.waitForTask(again.id)).toMatchObject({ state: "Completed", result: { reply: "echo: x" } });
  });

  it("persistent - one long-lived process serves several tasks", async () => {
    const id = await programAgent({ entrypoint: { command: NODE, args: ["/workspace/echo-agent.mjs"] } }, true);
    await runtime.lifecycle.startAgent(id);
    let started = 0;
    const off = runtime.events.on("agent.process_started", (e) => void (e.agent_id === id && started++));
    const tasks = await Promise.all(["a", "b", "c"].map((text) => runtime.scheduler.scheduleTask({ agent_id: id, input: { text } })));
    for (const t of tasks) expect((await runtime.scheduler.waitForTask(t.id)).state).toBe("Completed");
    expect(started).toBe(1);
    expect(runtime.executor.processCount()).toBeGreaterThanOrEqual(1);
    expect(await runtime.lifecycle.getAgentState(id)).toBe("Running");
    // The health probe samples the sandbox's measured usage (what ResourceBased balancing reads).
    await runtime.executor.probe?.("executor-0");
    await runtime.executor.probe?.("executor-0");
    const usage = runtime.executor.usage(id);
    expect(usage?.memory_used).toBeGreaterThan(1024 * 1024);
    expect(usage?.cpu_usage).toBeGreaterThanOrEqual(0);
    off();
    await runtime.lifecycle.terminateAgent(id);
    await until(() => runtime.executor.processCount() === 0);
  });

  it("persistent - a bus message reaches the running process, which sends one back", async () => {
    const peer = await programAgent({ execution_mode: { type: "Persistent" } });
    const acks: string[] = [];
    messaging.listen(peer, async (m) => void acks.push(`${m.topic}:${Buffer.from(m.payload).toString()}`));
    const script = `while read l; do case "$l" in *'"type":"message"'*) printf '{"type":"send","to":"${peer}","topic":"ack","payload":{"ok":true}}\\n';; esac; done`;
    const id = await programAgent({ entrypoint: { command: "sh", args: ["-c", script] } });
    await runtime.lifecycle.startAgent(id);
    await messaging.send({ id: MessageId.new(), from: peer, to: id, topic: "ping", payload: payloadBytes("hi"), priority: "Normal", ttl: 60_000 });
    await until(() => acks.length > 0);
    expect(acks).toEqual(['ack:{"ok":true}']);
    await runtime.lifecycle.terminateAgent(id);
  });

  it("a timed-out task is killed and leaves no process behind", async () => {
    const marker = "sleep 61.4321";
    const id = await programAgent({ execution_mode: { type: "Ephemeral" }, entrypoint: { command: "sh", args: ["-c", marker] } }, true);
    let seenRunning = false;
    const off = runtime.events.on("agent.process_started", (e) => {
      if (e.agent_id === id) void until(() => hostProcesses(marker).length > 0, 5_000).then(() => (seenRunning = true), () => undefined);
    });
    const task = await runtime.scheduler.scheduleTask({ agent_id: id, timeout: 2_500 });
    const status = await runtime.scheduler.waitForTask(task.id);
    off();
    expect(seenRunning).toBe(true);
    expect(status).toMatchObject({ state: "TimedOut", error: { code: "TASK_TIMEOUT" } });
    expect(hostProcesses(marker)).toEqual([]);
    expect(runtime.executor.processCount()).toBe(0);
  });

  it("cancelling a running task kills its process", async () => {
    const marker = "sleep 62.4321";
    const id = await programAgent({ execution_mode: { type: "Ephemeral" }, entrypoint: { command: "sh", args: ["-c", marker] } });
    const task = await runtime.scheduler.scheduleTask({ agent_id: id });
    await until(() => hostProcesses(marker).length > 0);
    await runtime.scheduler.cancelTask(task.id);
    expect((await runtime.scheduler.getTaskStatus(task.id)).state).toBe("Cancelled");
    expect(hostProcesses(marker)).toEqual([]);
  });

  it("a persistent agent whose process keeps crashing is restarted up to max_restart_attempts, then Failed", async () => {
    const id = await programAgent({ entrypoint: { command: "sh", args: ["-c", "sleep 0.3; exit 3"] } });
    await runtime.lifecycle.startAgent(id);
    let exits = 0;
    runtime.events.on("agent.process_exited", (e) => void (e.agent_id === id && exits++));
    const task = await runtime.scheduler.scheduleTask({ agent_id: id, input: {} });
    expect(await runtime.scheduler.waitForTask(task.id)).toMatchObject({ state: "Failed", error: { code: "AGENT_PROCESS_EXITED" } });
    await until(async () => (await runtime.lifecycle.getAgentState(id)) === "Failed");
    const agent = await runtime.lifecycle.getAgent(id);
    expect(agent.restart_count).toBe(2);
    expect(exits).toBe(3);
    const stats = await runtime.errorHandler.getErrorStats(id);
    expect(stats.actions.Restart).toBe(3);
    expect(runtime.executor.processCount()).toBe(0);
  });

  it("ephemeral - a message waits for the next task's process and is read before the task", async () => {
    const script = `read m; read t; id=$(printf '%s' "$t" | sed -E 's/.*"id":"([^"]+)".*/\\1/'); topic=$(printf '%s' "$m" | sed -E 's/.*"topic":"([^"]+)".*/\\1/'); printf '{"type":"result","id":"%s","output":"%s"}\\n' "$id" "$topic"`;
    const id = await programAgent({ execution_mode: { type: "Ephemeral" }, entrypoint: { command: "sh", args: ["-c", script] } });
    await messaging.send({ id: MessageId.new(), from: id, to: id, topic: "inbox.test", payload: payloadBytes({ x: 1 }), priority: "Normal", ttl: 60_000 });
    const task = await runtime.scheduler.scheduleTask({ agent_id: id });
    expect(await runtime.scheduler.waitForTask(task.id)).toMatchObject({ state: "Completed", result: "inbox.test" });
  });

  it("a program agent that breaks the protocol is reported, not fatal", async () => {
    const id = await programAgent({
      execution_mode: { type: "Ephemeral" },
      entrypoint: { command: "sh", args: ["-c", 'read line; echo "garbage"; echo "{\\"type\\":\\"result\\",\\"id\\":\\"$(echo "$line" | sed -E "s/.*\\"id\\":\\"([^\\"]+)\\".*/\\1/")\\",\\"output\\":42}"'] },
    });
    const errors: string[] = [];
    runtime.events.on("agent.protocol_error", (e) => void (e.agent_id === id && errors.push(e.reason)));
    const task = await runtime.scheduler.scheduleTask({ agent_id: id });
    expect(await runtime.scheduler.waitForTask(task.id)).toMatchObject({ state: "Completed", result: 42 });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/not JSON/);
  });
});
