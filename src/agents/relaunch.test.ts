/**
 * After a restart on the same data dir, recovered agents work again without being re-initialised: a
 * Persistent program agent that was at work gets a new process in a new sandbox, every initialized agent is
 * back on the bus, and a Scheduled agent fires again.
 */
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SystemClock } from "../core/clock.js";
import { MessageId, type AgentId } from "../core/ids.js";
import { silentLogger } from "../core/logger.js";
import { parseAgentConfig, type AgentConfigInput } from "../core/schemas.js";
import { createRuntime, type Runtime } from "../runtime.js";
import { tier0Requirement } from "../../test/helpers/requirements.js";
import { until } from "../../test/helpers/wait.js";
import { payloadBytes } from "./protocol.js";

const dataDir = mkdtempSync(join(tmpdir(), "symbiont-relaunch-"));
// Sandboxed processes run as an unprivileged uid that must be able to reach the workspaces.
chmodSync(dataDir, 0o755);

function start(): Promise<Runtime> {
  return createRuntime({
    config: {
      data_dir: dataDir,
      log_level: "silent",
      scheduler: { retry_attempts: 0, agent_shutdown_grace: 500 },
      lifecycle: { enable_auto_recovery: false },
    },
    clock: new SystemClock(),
    logger: silentLogger(),
  });
}

const tier0 = await tier0Requirement(start);


/** Answers every bus message with an `ack` to `peer` that names the answering process (a random id per process). */
function ackScript(peer: AgentId): string {
  return `run=$(cat /proc/sys/kernel/random/uuid); while read l; do case "$l" in *'"type":"message"'*) printf '{"type":"send","to":"${peer}","topic":"ack","payload":{"run":"%s"}}\\n' $run;; esac; done`;
}

/** Answers each task (with an empty input, so its only "id" is the task's) with the result 1. */
const RESULT_SCRIPT = `read l; id=$(printf '%s' "$l" | sed 's/.*"id":"\\([^"]*\\)".*/\\1/'); printf '{"type":"result","id":"%s","output":1}\\n' "$id"`;

async function ping(runtime: Runtime, from: AgentId, to: AgentId): Promise<string> {
  await runtime.bus.sendMessage({ id: MessageId.new(), from, to, topic: "ping", payload: payloadBytes("hi"), priority: "Normal", ttl: 60_000 });
  let run: string | undefined;
  await until(async () => {
    const got = await runtime.bus.receiveMessages(from);
    if (got.length) run = (JSON.parse(Buffer.from(got[0]!.message.payload).toString()) as { run: string }).run;
    return run !== undefined;
  });
  return run!;
}

describe.skipIf(!tier0.available)("recovery - agents work again after a restart", () => {
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it("relaunches a working Persistent program, re-registers agents on the bus and resumes schedules", async () => {
    const first = await start();
    const create = async (config: AgentConfigInput): Promise<AgentId> => {
      const agent = await first.lifecycle.createAgent(parseAgentConfig(config));
      await first.lifecycle.initializeAgent(agent.id);
      return agent.id;
    };
    const peer = await create({ name: "peer", execution_mode: { type: "Persistent" } });
    const worker = await create({ name: "worker", entrypoint: { command: "sh", args: ["-c", ackScript(peer)] } });
    await first.lifecycle.startAgent(worker);
    const firstRun = await ping(first, peer, worker);
    await first.shutdown();

    const second = await start();
    try {
      expect(second.recovery.agents.relaunch).toContainEqual({ agent_id: worker, state: "Running", execution_mode: "Persistent", action: "relaunch" });
      expect(second.recovery.agents.unrecovered).toEqual([]);
      // The process is back before anything is sent to it, in a sandbox of the new runtime.
      expect(second.executor.processCount()).toBe(1);
      const secondRun = await ping(second, peer, worker);
      expect(secondRun).not.toBe(firstRun);
      expect(await second.lifecycle.getAgentState(worker)).toBe("Running");

      const timed = await second.lifecycle.createAgent(
        parseAgentConfig({
          name: "timed",
          execution_mode: { type: "Scheduled", interval: 300 },
          entrypoint: { command: "sh", args: ["-c", RESULT_SCRIPT] },
        }),
      );
      await second.lifecycle.initializeAgent(timed.id);
      await second.shutdown();

      const third = await start();
      try {
        let fired = 0;
        const off = third.events.on("task.finished", (e) => void (e.agent_id === timed.id && e.state === "Completed" && fired++));
        await until(() => fired >= 2);
        off();
      } finally {
        await third.shutdown();
      }
    } finally {
      await second.shutdown();
    }
  });
});
