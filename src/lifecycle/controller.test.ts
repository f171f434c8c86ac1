import { describe, expect, it } from "vitest";
import type { RuntimeError } from "../core/errors.js";
import type { AgentId } from "../core/ids.js";
import { AGENT_STATES, type AgentState } from "../core/types.js";
import { agentConfig, makeLifecycle } from "../../test/helpers/runtime.js";
import { canTransition } from "./state-machine.js";
import type { DefaultLifecycleController } from "./controller.js";

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as RuntimeError).code;
  }
  return "OK";
}

type Ctl = DefaultLifecycleController;

const STABLE: AgentState[] = ["Created", "Ready", "Running", "Suspended", "Waiting", "Completed", "Failed"];

async function driveTo(ctl: Ctl, state: AgentState): Promise<AgentId> {
  const { id } = await ctl.createAgent(agentConfig());
  if (state === "Created") return id;
  await ctl.initializeAgent(id);
  if (state === "Ready") return id;
  await ctl.startAgent(id);
  if (state === "Suspended") await ctl.suspendAgent(id);
  if (state === "Waiting") await ctl.transition(id, "Waiting");
  if (state === "Completed") await ctl.stopAgent(id);
  if (state === "Failed") await ctl.transition(id, "Failed");
  expect(await ctl.getAgentState(id)).toBe(state);
  return id;
}

function attempt(ctl: Ctl, id: AgentId, to: AgentState): Promise<void> {
  if (to === "Initializing") return ctl.initializeAgent(id);
  if (to === "Terminating") return ctl.terminateAgent(id);
  return ctl.transition(id, to);
}

describe("lifecycle - transitions through the controller", () => {
  const cases = STABLE.flatMap((from) => AGENT_STATES.map((to) => [from, to] as [AgentState, AgentState]));

  it.each(cases)("%s -> %s", async (from, to) => {
    const { controller, seen } = makeLifecycle({ enable_auto_recovery: false });
    const id = await driveTo(controller, from);
    const before = seen.length;
    const code = await codeOf(attempt(controller, id, to));
    if (canTransition(from, to) && to !== "Terminated") {
      expect(code).toBe("OK");
      if (to === "Terminating") {
        expect(await codeOf(controller.getAgentState(id))).toBe("AGENT_NOT_FOUND");
      } else {
        expect(await controller.getAgentState(id)).toBe(to === "Initializing" ? "Ready" : to);
      }
      expect(seen.length).toBeGreaterThan(before);
    } else {
      expect(code).toBe("INVALID_STATE_TRANSITION");
      expect(await controller.getAgentState(id)).toBe(from);
      expect(seen.length).toBe(before);
    }
  });

  it("a terminated agent is gone: every lookup says AGENT_NOT_FOUND", async () => {
    const { controller } = makeLifecycle();
    const id = await driveTo(controller, "Running");
    await controller.terminateAgent(id);
    expect(await codeOf(controller.getAgentState(id))).toBe("AGENT_NOT_FOUND");
    expect(await codeOf(controller.getAgent(id))).toBe("AGENT_NOT_FOUND");
    expect(await codeOf(controller.startAgent(id))).toBe("AGENT_NOT_FOUND");
    expect(await controller.listAgents()).toEqual([]);
  });

  it("resume is refused unless the agent is Suspended", async () => {
    const { controller } = makeLifecycle();
    for (const state of ["Ready", "Running", "Completed"] as AgentState[]) {
      const id = await driveTo(controller, state);
      expect(await codeOf(controller.resumeAgent(id))).toBe("INVALID_STATE_TRANSITION");
      expect(await controller.getAgentState(id)).toBe(state);
    }
    const id = await driveTo(controller, "Suspended");
    await controller.resumeAgent(id);
    expect(await controller.getAgentState(id)).toBe("Running");
  });

  it("emits one state_changed event per applied transition, in order", async () => {
    const { controller, seen } = makeLifecycle();
    const id = await driveTo(controller, "Running");
    await controller.stopAgent(id);
    const changes = seen.filter((e) => e.type === "agent.state_changed").map((e) => `${"from" in e ? e.from : ""}>${"to" in e ? e.to : ""}`);
    expect(changes).toEqual(["Created>Initializing", "Initializing>Ready", "Ready>Running", "Running>Completed"]);
    expect(seen[0]?.type).toBe("agent.created");
  });

  it("counts executions and errors on the instance", async () => {
    const { controller } = makeLifecycle({ enable_auto_recovery: false });
    const id = await driveTo(controller, "Running");
    await controller.stopAgent(id);
    await controller.startAgent(id);
    await controller.transition(id, "Failed");
    const a = await controller.getAgent(id);
    expect(a.execution_count).toBe(2);
    expect(a.error_count).toBe(1);
    expect(a.last_updated).toBeGreaterThanOrEqual(a.created_at);
  });
});

describe("lifecycle - limits and recovery", () => {
  it("enforces max_agents", async () => {
    const { controller } = makeLifecycle({ max_agents: 2 });
    await controller.createAgent(agentConfig());
    const second = await controller.createAgent(agentConfig());
    expect(await codeOf(controller.createAgent(agentConfig()))).toBe("MAX_AGENTS_REACHED");
    await controller.initializeAgent(second.id);
    await controller.terminateAgent(second.id);
    await controller.createAgent(agentConfig());
  });

  it("refuses a duplicate id", async () => {
    const { controller } = makeLifecycle();
    const cfg = agentConfig();
    await controller.createAgent(cfg);
    expect(await codeOf(controller.createAgent(cfg))).toBe("AGENT_ALREADY_EXISTS");
  });

  it("auto-recovery restarts a failed agent with backoff up to max_restart_attempts, then leaves it Failed", async () => {
    const { controller, clock, seen } = makeLifecycle({
      enable_auto_recovery: true,
      max_restart_attempts: 2,
      state_check_interval: 100,
      restart_backoff: 1_000,
    });
    const id = await driveTo(controller, "Running");

    await controller.transition(id, "Failed");
    await clock.advance(900);
    expect(await controller.getAgentState(id)).toBe("Failed");
    await clock.advance(200);
    expect(await controller.getAgentState(id)).toBe("Running");
    expect((await controller.getAgent(id)).restart_count).toBe(1);

    // Second failure: backoff doubles to 2 s.
    await controller.transition(id, "Failed");
    await clock.advance(1_500);
    expect(await controller.getAgentState(id)).toBe("Failed");
    await clock.advance(600);
    expect(await controller.getAgentState(id)).toBe("Running");
    expect((await controller.getAgent(id)).restart_count).toBe(2);

    // Third failure: the limit is reached, so it stays Failed.
    await controller.transition(id, "Failed");
    await clock.advance(60_000);
    expect(await controller.getAgentState(id)).toBe("Failed");
    expect((await controller.getAgent(id)).restart_count).toBe(2);
    expect(seen.filter((e) => e.type === "agent.restart_scheduled")).toHaveLength(2);
    expect(await codeOf(controller.restartAgent(id))).toBe("MAX_RESTARTS_EXCEEDED");
  });

  it("restart re-initialises from Running, Completed and Failed without Terminating", async () => {
    const { controller, seen } = makeLifecycle({ enable_auto_recovery: false, max_restart_attempts: 5 });
    for (const state of ["Running", "Completed", "Failed"] as AgentState[]) {
      const id = await driveTo(controller, state);
      const mark = seen.length;
      await controller.restartAgent(id);
      expect(await controller.getAgentState(id)).toBe("Running");
      const path = seen.slice(mark).filter((e) => e.type === "agent.state_changed").map((e) => ("to" in e ? e.to : ""));
      expect(path).toEqual(["Initializing", "Ready", "Running"]);
      expect((await controller.getAgent(id)).restart_count).toBe(1);
    }
    const ready = await driveTo(controller, "Ready");
    expect(await codeOf(controller.restartAgent(ready))).toBe("INVALID_STATE_TRANSITION");
  });

  it("an initialization hook that exceeds its timeout fails the agent with INITIALIZATION_FAILED", async () => {
    let aborted = false;
    const { controller, clock } = makeLifecycle({ initialization_timeout: 500, enable_auto_recovery: false }, [
      {
        name: "slow",
        onInitialize: (_agent, signal) =>
          new Promise<void>(() => {
            signal.addEventListener("abort", () => (aborted = true));
          }),
      },
    ]);
    const { id } = await controller.createAgent(agentConfig());
    const pending = codeOf(controller.initializeAgent(id));
    await clock.advance(500);
    expect(await pending).toBe("INITIALIZATION_FAILED");
    expect(aborted).toBe(true);
    expect(await controller.getAgentState(id)).toBe("Failed");
  });

  it("a failing termination hook reports TERMINATION_FAILED and keeps the agent visible as Failed", async () => {
    let fail = true;
    const { controller } = makeLifecycle({ enable_auto_recovery: false }, [
      {
        name: "cleanup",
        onTerminate: async () => {
          if (fail) throw new Error("sandbox busy");
        },
      },
    ]);
    const id = await driveTo(controller, "Running");
    expect(await codeOf(controller.terminateAgent(id))).toBe("TERMINATION_FAILED");
    expect(await controller.getAgentState(id)).toBe("Failed");
    fail = false;
    await controller.terminateAgent(id);
    expect(await codeOf(controller.getAgentState(id))).toBe("AGENT_NOT_FOUND");
  });

  it("a termination hook that exceeds termination_timeout fails with TERMINATION_FAILED", async () => {
    const { controller, clock } = makeLifecycle({ termination_timeout: 300, enable_auto_recovery: false }, [
      { name: "stuck", onTerminate: () => new Promise<void>(() => {}) },
    ]);
    const id = await driveTo(controller, "Running");
    const pending = codeOf(controller.terminateAgent(id));
    await clock.advance(300);
    expect(await pending).toBe("TERMINATION_FAILED");
  });

  it("100 concurrent transitions on one agent leave a consistent state and one event per applied transition", async () => {
    const { controller, seen } = makeLifecycle({ enable_auto_recovery: false });
    const id = await driveTo(controller, "Running");
    const mark = seen.length;
    const ops: Promise<void>[] = [];
    for (let i = 0; i < 100; i++) {
      const k = i % 4;
      ops.push(
        k === 0
          ? controller.suspendAgent(id)
          : k === 1
            ? controller.resumeAgent(id)
            : k === 2
              ? controller.transition(id, "Waiting")
              : controller.transition(id, "Running"),
      );
    }
    const results = await Promise.allSettled(ops);
    const applied = results.filter((r) => r.status === "fulfilled").length;
    for (const r of results) {
      if (r.status === "rejected") expect((r.reason as RuntimeError).code).toBe("INVALID_STATE_TRANSITION");
    }
    const changes = seen.slice(mark).filter((e) => e.type === "agent.state_changed") as Array<{ from: AgentState; to: AgentState }>;
    expect(changes).toHaveLength(applied);
    let state: AgentState = "Running";
    for (const c of changes) {
      expect(c.from).toBe(state);
      expect(canTransition(c.from, c.to)).toBe(true);
      state = c.to;
    }
    expect(await controller.getAgentState(id)).toBe(state);
    expect(applied).toBeGreaterThan(0);
  });
});

describe("lifecycle - config, status and shutdown", () => {
  it("update_agent_config validates and keeps the id", async () => {
    const { controller } = makeLifecycle();
    const a = await controller.createAgent(agentConfig({ name: "before" }));
    await controller.updateAgentConfig(a.id, { ...a.config, name: "after" });
    expect((await controller.getAgent(a.id)).config.name).toBe("after");
    expect(await codeOf(controller.updateAgentConfig(a.id, { ...a.config, name: "" }))).toBe("CONFIGURATION_ERROR");
    expect(await codeOf(controller.updateAgentConfig(a.id, agentConfig()))).toBe("CONFIGURATION_INVALID");
  });

  it("system status counts agents per state and totals", async () => {
    const { controller, clock } = makeLifecycle({ enable_auto_recovery: false });
    await driveTo(controller, "Running");
    await driveTo(controller, "Running");
    const t = await driveTo(controller, "Ready");
    await controller.terminateAgent(t);
    await driveTo(controller, "Created");
    await clock.advance(5_000);
    const s = await controller.getSystemStatus();
    expect(s.agents_by_state.Running).toBe(2);
    expect(s.agents_by_state.Created).toBe(1);
    expect(s.total_agents).toBe(3);
    expect(s.total_created).toBe(4);
    expect(s.total_terminated).toBe(1);
    expect(s.total_executions).toBe(2);
    expect(s.uptime).toBe(5_000);
  });

  it("shutdown terminates every agent and refuses later calls", async () => {
    const terminated: string[] = [];
    const { controller } = makeLifecycle({}, [{ name: "t", onTerminate: async (a) => void terminated.push(a.id) }]);
    const a = await driveTo(controller, "Running");
    const b = await driveTo(controller, "Suspended");
    await driveTo(controller, "Created");
    await controller.shutdown();
    expect(terminated.sort()).toEqual([a, b].sort());
    expect(await controller.listAgents()).toEqual([]);
    expect(await codeOf(controller.createAgent(agentConfig()))).toBe("RUNTIME_SHUT_DOWN");
    expect(await codeOf(controller.startAgent(a))).toBe("RUNTIME_SHUT_DOWN");
    expect((await controller.getSystemStatus()).shut_down).toBe(true);
    await controller.shutdown();
  });
});
