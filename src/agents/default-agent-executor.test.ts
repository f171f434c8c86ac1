import { describe, expect, it } from "vitest";
import { AgentId, MessageId } from "../core/ids.js";
import { parseAgentConfig } from "../core/schemas.js";
import { LocalMessaging, makeRuntime, settle, startAgent } from "../../test/helpers/execution.js";
import { payloadBytes } from "./protocol.js";

describe("executor - in-process handlers", () => {
  it("runs a handler with the task input; an Ephemeral agent is Running during and Completed after", async () => {
    const { runtime, seen } = await makeRuntime();
    let release: (v: unknown) => void = () => undefined;
    const id = await startAgent(runtime, { execution_mode: { type: "Ephemeral" } }, {
      onTask: (input) => new Promise((r) => (release = () => r({ doubled: (input as number) * 2 }))),
    });
    await runtime.lifecycle.stopAgent(id); // Running → Completed: a task must bring it back to Running
    const task = await runtime.scheduler.scheduleTask({ agent_id: id, input: 21 });
    await settle();
    expect(await runtime.lifecycle.getAgentState(id)).toBe("Running");
    release(undefined);
    expect(await runtime.scheduler.waitForTask(task.id)).toMatchObject({ state: "Completed", result: { doubled: 42 } });
    await settle();
    expect(await runtime.lifecycle.getAgentState(id)).toBe("Completed");
    expect(seen.filter((e) => e.type === "task.started" || e.type === "task.finished").map((e) => e.type)).toEqual(["task.started", "task.finished"]);
    await runtime.shutdown();
  });

  it("a handler that overruns its timeout is aborted: TimedOut, and its signal fires", async () => {
    const { runtime, clock } = await makeRuntime({ scheduler: { retry_attempts: 0 } });
    let aborted = false;
    const id = await startAgent(runtime, {}, {
      onTask: (_input, ctx) =>
        new Promise(() => {
          ctx.signal.addEventListener("abort", () => (aborted = true));
        }),
    });
    const task = await runtime.scheduler.scheduleTask({ agent_id: id, timeout: 5_000 });
    await clock.advance(5_000);
    await settle();
    expect(await runtime.scheduler.getTaskStatus(task.id)).toMatchObject({ state: "TimedOut" });
    expect(aborted).toBe(true);
    await runtime.shutdown();
  });

  it("fails clearly when the agent has no handler and no entrypoint, or is unknown", async () => {
    const { runtime } = await makeRuntime({ scheduler: { retry_attempts: 0 } });
    await runtime.errorHandler.registerStrategy("SystemError", { type: "None" });
    const id = await startAgent(runtime);
    const t = await runtime.scheduler.scheduleTask({ agent_id: id });
    expect(await runtime.scheduler.waitForTask(t.id)).toMatchObject({ state: "Failed", error: { code: "AGENT_NOT_RUNNABLE" } });
    const ghost = await runtime.scheduler.scheduleTask({ agent_id: AgentId.new() });
    expect(await runtime.scheduler.waitForTask(ghost.id)).toMatchObject({ state: "Failed", error: { code: "AGENT_NOT_FOUND" } });
    await runtime.shutdown();
  });

  it("tasks for an agent that is still initializing wait, then run", async () => {
    const { runtime } = await makeRuntime();
    const agent = await runtime.lifecycle.createAgent(parseAgentConfig({ name: "late" }));
    runtime.executor.registerHandler(agent.id, { onTask: () => "done" });
    const t = await runtime.scheduler.scheduleTask({ agent_id: agent.id });
    await settle();
    expect((await runtime.scheduler.getTaskStatus(t.id)).state).toBe("Pending");
    await runtime.lifecycle.initializeAgent(agent.id);
    await settle();
    expect(await runtime.scheduler.getTaskStatus(t.id)).toMatchObject({ state: "Completed", result: "done" });
    await runtime.shutdown();
  });
});

describe("executor - messages", () => {
  it("EventDriven: a message to the agent enqueues a task carrying it", async () => {
    const messaging = new LocalMessaging();
    const { runtime } = await makeRuntime({}, { messaging });
    const inputs: unknown[] = [];
    const id = await startAgent(runtime, { execution_mode: { type: "EventDriven" } }, { onTask: (input) => void inputs.push(input) });
    const sender = AgentId.new();
    await messaging.send({ id: MessageId.new(), from: sender, to: id, topic: "orders", payload: payloadBytes({ n: 1 }), priority: "High", ttl: 1000 });
    await settle();
    expect(inputs).toEqual([{ message: expect.objectContaining({ from: sender, topic: "orders", payload: { n: 1 } }) }]);
    await runtime.shutdown();
  });

  it("EventDriven on a subscribed topic; handlers send and subscribe through the bus interface", async () => {
    const messaging = new LocalMessaging();
    const { runtime } = await makeRuntime({}, { messaging });
    const replies: string[] = [];
    const listener = await startAgent(runtime, { execution_mode: { type: "EventDriven" } }, {
      onTask: (input, ctx) => {
        const m = (input as { message: { from: string; payload: { n: number } } }).message;
        ctx.send(m.from, "reply", { got: m.payload.n });
      },
    });
    const publisher = await startAgent(runtime, {}, {
      onTask: (_i, ctx) => ctx.subscribe("news"),
      onMessage: (m) => void replies.push(`${m.topic}:${JSON.stringify(m.payload)}`),
    });
    // The listener subscribes by running a task once (its onTask subscribes nothing; subscribe directly).
    await messaging.subscribe(listener, "news");
    expect(await messaging.publish(publisher, "news", { n: 7 })).toBe(1);
    await settle();
    expect(replies).toEqual(['reply:{"got":7}']);
    const t = await runtime.scheduler.scheduleTask({ agent_id: publisher });
    await runtime.scheduler.waitForTask(t.id);
    await settle();
    expect(messaging.topicsOf(publisher)).toEqual(["news"]);
    await runtime.shutdown();
  });

  it("an agent's send to an unregistered recipient is refused by the bus (reported, not thrown)", async () => {
    const { runtime, seen } = await makeRuntime();
    const id = await startAgent(runtime, {}, { onTask: (_i, ctx) => ctx.send(AgentId.new(), "t", 1) });
    const t = await runtime.scheduler.scheduleTask({ agent_id: id });
    expect((await runtime.scheduler.waitForTask(t.id)).state).toBe("Completed");
    await settle();
    expect(seen.find((e) => e.type === "agent.send_failed")).toMatchObject({ agent_id: id, code: "AGENT_NOT_REGISTERED" });
    await runtime.shutdown();
  });
});
