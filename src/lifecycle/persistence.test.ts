import { afterEach, describe, expect, it } from "vitest";
import { ManualClock } from "../core/clock.js";
import { resolveConfig } from "../core/config/index.js";
import { StoreError } from "../core/errors.js";
import { RuntimeEvents, type RuntimeEvent } from "../core/events.js";
import { silentLogger } from "../core/logger.js";
import { agentConfig } from "../../test/helpers/runtime.js";
import { createSqliteStateStore } from "../store/sqlite-state-store.js";
import type { AgentRepository, StateStore } from "../store/types.js";
import { DefaultLifecycleController } from "./controller.js";
import type { LifecycleHooks } from "./types.js";

let stores: StateStore[] = [];
afterEach(async () => {
  for (const s of stores) await s.close();
  stores = [];
});

async function memoryStore(): Promise<StateStore> {
  const s = await createSqliteStateStore({ file: ":memory:" });
  stores.push(s);
  return s;
}

function controller(store: AgentRepository, hooks: LifecycleHooks[] = []) {
  const clock = new ManualClock();
  const logger = silentLogger();
  const events = new RuntimeEvents(clock, logger);
  const seen: RuntimeEvent[] = [];
  events.onAny((e) => seen.push(e));
  const config = resolveConfig({ lifecycle: { enable_auto_recovery: false } }).lifecycle;
  return { ctl: new DefaultLifecycleController({ config, clock, events, logger, hooks, store }), seen, clock };
}

describe("lifecycle persistence - every change is committed before the call resolves", () => {
  it("creation, transitions, counters, config and removal", async () => {
    const store = await memoryStore();
    const { ctl } = controller(store.agents);
    const { id } = await ctl.createAgent(agentConfig({ name: "p" }));
    expect(await store.agents.get(id)).toMatchObject({ state: "Created", execution_count: 0 });
    await ctl.initializeAgent(id);
    await ctl.startAgent(id);
    expect(await store.agents.get(id)).toMatchObject({ state: "Running", execution_count: 1 });
    await ctl.transition(id, "Failed", "boom");
    expect(await store.agents.get(id)).toMatchObject({ state: "Failed", error_count: 1 });
    await ctl.restartAgent(id);
    expect(await store.agents.get(id)).toMatchObject({ state: "Running", restart_count: 1, execution_count: 2 });
    await ctl.updateAgentConfig(id, agentConfig({ name: "renamed", id }));
    expect((await store.agents.get(id))?.config.name).toBe("renamed");
    expect(await store.agents.get(id)).toEqual(await ctl.getAgent(id));
    await ctl.terminateAgent(id);
    expect(await store.agents.get(id)).toBeUndefined();
  });

  it("a write the store refuses fails the call, and a refused creation leaves no agent behind", async () => {
    const store = await memoryStore();
    const refusing: AgentRepository = {
      ...store.agents,
      put: () => Promise.reject(new StoreError("STORE_WRITE_FAILED", "disk full")),
    };
    const { ctl } = controller(refusing);
    await expect(ctl.createAgent(agentConfig())).rejects.toMatchObject({ code: "STORE_WRITE_FAILED" });
    expect(await ctl.listAgents()).toEqual([]);
  });

  it("close keeps every agent in the store; shutdown (the spec's stop) removes them", async () => {
    const store = await memoryStore();
    const first = controller(store.agents).ctl;
    const a = await first.createAgent(agentConfig());
    await first.initializeAgent(a.id);
    await first.close();
    await expect(first.startAgent(a.id)).rejects.toMatchObject({ code: "RUNTIME_SHUT_DOWN" });
    expect(await store.agents.count()).toBe(1);
    const second = controller(store.agents).ctl;
    await second.recover();
    await second.shutdown();
    expect(await store.agents.count()).toBe(0);
  });
});

describe("lifecycle recovery - agents come back in their last state", () => {
  it("restores states and counters, asks for relaunch per execution mode, settles interrupted work", async () => {
    const store = await memoryStore();
    const terminatedByHook: string[] = [];
    const hooks: LifecycleHooks[] = [{ name: "t", onTerminate: async (agent) => void terminatedByHook.push(agent.id) }];
    const before = controller(store.agents).ctl;
    const persistent = await before.createAgent(agentConfig({ name: "persistent" }));
    const ephemeral = await before.createAgent(agentConfig({ name: "ephemeral", execution_mode: { type: "Ephemeral" } }));
    const waiting = await before.createAgent(agentConfig({ name: "waiting" }));
    const suspended = await before.createAgent(agentConfig({ name: "suspended" }));
    const created = await before.createAgent(agentConfig({ name: "created" }));
    for (const a of [persistent, ephemeral, waiting, suspended]) {
      await before.initializeAgent(a.id);
      await before.startAgent(a.id);
    }
    await before.transition(waiting.id, "Waiting");
    await before.suspendAgent(suspended.id);
    // What a process killed mid-operation leaves: one agent initializing, one terminating.
    const initializing = await before.createAgent(agentConfig({ name: "initializing" }));
    const terminating = await before.createAgent(agentConfig({ name: "terminating" }));
    await store.agents.put({ ...(await before.getAgent(initializing.id)), state: "Initializing" });
    await store.agents.put({ ...(await before.getAgent(terminating.id)), state: "Terminating" });
    const expected = await Promise.all([persistent, ephemeral, waiting, suspended, created].map((a) => before.getAgent(a.id)));

    const { ctl: after, seen } = controller(store.agents, hooks);
    const report = await after.recover();
    expect(report.restored).toBe(7);
    for (const a of expected) expect(await after.getAgent(a.id)).toEqual(a);
    expect(new Set(report.relaunch)).toEqual(
      new Set([
        { agent_id: persistent.id, state: "Running", execution_mode: "Persistent", action: "relaunch" },
        { agent_id: ephemeral.id, state: "Running", execution_mode: "Ephemeral", action: "resume" },
        { agent_id: waiting.id, state: "Waiting", execution_mode: "Persistent", action: "relaunch" },
      ]),
    );
    expect(report.interrupted).toEqual([initializing.id]);
    expect(await after.getAgentState(initializing.id)).toBe("Failed");
    expect((await store.agents.get(initializing.id))?.state).toBe("Failed");
    expect(report.terminated).toEqual([terminating.id]);
    expect(terminatedByHook).toEqual([terminating.id]);
    expect(await store.agents.get(terminating.id)).toBeUndefined();
    expect(seen.find((e) => e.type === "lifecycle.recovered")).toMatchObject({ restored: 7, relaunch: 3, interrupted: 1, terminated: 1 });
    // Recovered agents are fully operable.
    await after.stopAgent(persistent.id);
    expect((await store.agents.get(persistent.id))?.state).toBe("Completed");
  });

  it("hands every settled agent to the onRecover hooks; a failing hook parks only that agent in Failed", async () => {
    const store = await memoryStore();
    const before = controller(store.agents).ctl;
    const running = await before.createAgent(agentConfig({ name: "running" }));
    const broken = await before.createAgent(agentConfig({ name: "broken" }));
    const created = await before.createAgent(agentConfig({ name: "created" }));
    for (const a of [running, broken]) {
      await before.initializeAgent(a.id);
      await before.startAgent(a.id);
    }
    const initializing = await before.createAgent(agentConfig({ name: "initializing" }));
    await store.agents.put({ ...(await before.getAgent(initializing.id)), state: "Initializing" });

    const recovered: [string, string][] = [];
    const hooks: LifecycleHooks[] = [
      {
        name: "r",
        onRecover: async (agent) => {
          if (agent.id === broken.id) throw new Error("sandbox image gone");
          recovered.push([agent.config.name, agent.state]);
        },
      },
    ];
    const { ctl: after, seen } = controller(store.agents, hooks);
    const report = await after.recover();
    // Settled states go to the hooks with the state they were stored in; the interrupted one does not.
    expect(new Set(recovered)).toEqual(new Set([["running", "Running"], ["created", "Created"]]));
    expect(report.unrecovered).toEqual([broken.id]);
    expect(await after.getAgentState(broken.id)).toBe("Failed");
    expect((await store.agents.get(broken.id))?.state).toBe("Failed");
    expect(seen).toContainEqual(expect.objectContaining({ type: "agent.state_changed", agent_id: broken.id, to: "Failed", reason: "recovery failed: sandbox image gone" }));
    expect(await after.getAgentState(running.id)).toBe("Running");
    expect(await after.getAgentState(created.id)).toBe("Created");
    expect(seen.find((e) => e.type === "lifecycle.recovered")).toMatchObject({ restored: 4, unrecovered: 1, interrupted: 1 });
  });

  it("a recovery hook that never returns is cut off at the phase's deadline; the agent is parked in Failed", async () => {
    const store = await memoryStore();
    const before = controller(store.agents).ctl;
    const stuck = await before.createAgent(agentConfig({ name: "stuck" }));
    const fine = await before.createAgent(agentConfig({ name: "fine" }));
    for (const a of [stuck, fine]) await before.initializeAgent(a.id);
    const hooks: LifecycleHooks[] = [{ name: "r", onRecover: (agent) => (agent.id === stuck.id ? new Promise<void>(() => undefined) : Promise.resolve()) }];
    const { ctl: after, clock } = controller(store.agents, hooks);
    const recovering = after.recover();
    await clock.advance(30_000);
    const report = await recovering;
    expect(report.unrecovered).toEqual([stuck.id]);
    expect(await after.getAgentState(stuck.id)).toBe("Failed");
    expect(await after.getAgentState(fine.id)).toBe("Ready");
  });
});
