import { describe, expect, it } from "vitest";
import { ManualClock } from "../core/clock.js";
import { resolveConfig } from "../core/config/index.js";
import { CommunicationError, PolicyError, ResourceError, SecurityError, ValidationError } from "../core/errors.js";
import { RuntimeEvents, type RuntimeEvent } from "../core/events.js";
import { AgentId, type TaskId } from "../core/ids.js";
import { silentLogger } from "../core/logger.js";
import { makeRuntime, settle, startAgent } from "../../test/helpers/execution.js";
import { makeLifecycle, agentConfig } from "../../test/helpers/runtime.js";
import { classifyError } from "./classify.js";
import { DefaultErrorHandler } from "./default-error-handler.js";

const resourceErr = () => new ResourceError("USAGE_EXCEEDED", "out of memory");
const networkErr = () => new CommunicationError("DELIVERY_FAILED", "peer unreachable");

describe("error handler - classification and default strategies", () => {
  it("classifies by family, code and an agent-named type", () => {
    expect(classifyError(resourceErr())).toBe("ResourceExhaustion");
    expect(classifyError(networkErr())).toBe("NetworkError");
    expect(classifyError(new SecurityError("SECURITY_VIOLATION", "x"))).toBe("SecurityViolation");
    expect(classifyError(new PolicyError("POLICY_DENIED", "x"))).toBe("PolicyViolation");
    expect(classifyError(new ValidationError("x", []))).toBe("ValidationError");
    expect(classifyError(new ResourceError("USAGE_EXCEEDED", "x", { details: { error_type: "NetworkError" } }))).toBe("NetworkError");
  });

  it("decides Retry 3 × 1 s and 5 × 500 ms for resource and network errors", async () => {
    const { controller } = makeLifecycle();
    const clock = new ManualClock();
    const h = new DefaultErrorHandler({
      config: resolveConfig({ error_handler: { backoff_jitter: 0 } }).error_handler,
      clock,
      events: new RuntimeEvents(clock, silentLogger()),
      logger: silentLogger(),
      lifecycle: controller,
    });
    const id = AgentId.new();
    const task = "00000000-0000-4000-8000-000000000000" as TaskId;
    expect(await h.handleError(id, resourceErr(), { task_id: task, attempt: 1 })).toEqual({ type: "Retry", max_attempts: 3, backoff: 1_000 });
    expect(await h.handleError(id, networkErr(), { task_id: task, attempt: 1 })).toEqual({ type: "Retry", max_attempts: 5, backoff: 500 });
    expect(await h.handleError(id, networkErr(), { task_id: task, attempt: 3 })).toEqual({ type: "Retry", max_attempts: 5, backoff: 2_000 });
    expect(await h.handleError(id, resourceErr(), { task_id: task, attempt: 4 })).toMatchObject({ type: "None" });
  });

  it("jitter stays within ±backoff_jitter", async () => {
    const { controller } = makeLifecycle();
    const clock = new ManualClock();
    const make = (r: number) =>
      new DefaultErrorHandler({
        config: resolveConfig({ error_handler: { backoff_jitter: 0.2 } }).error_handler,
        clock,
        events: new RuntimeEvents(clock, silentLogger()),
        logger: silentLogger(),
        lifecycle: controller,
        random: () => r,
      });
    const at = async (r: number) => ((await make(r).handleError(AgentId.new(), resourceErr(), { attempt: 2 })) as { backoff: number }).backoff;
    expect(await at(0)).toBe(1_600);
    expect(await at(0.5)).toBe(2_000);
    expect(await at(0.999999)).toBe(2_400);
  });

  it("rejects a malformed strategy", async () => {
    const { runtime } = await makeRuntime();
    await expect(runtime.errorHandler.registerStrategy("NetworkError", { type: "Retry", max_attempts: -1, backoff: 1 })).rejects.toMatchObject({
      code: "VALIDATION_FAILED",
    });
    await expect(runtime.errorHandler.registerStrategy("Nope" as never, { type: "None" })).rejects.toMatchObject({ code: "VALIDATION_FAILED" });
    await runtime.shutdown();
  });
});

describe("error handler - actions are carried out", () => {
  it("Retry re-runs the task with the exact backoff sequence, then fails it", async () => {
    const { runtime, clock, seen } = await makeRuntime({ error_handler: { backoff_jitter: 0 }, scheduler: { retry_attempts: 3 } });
    let runs = 0;
    const id = await startAgent(runtime, {}, {
      onTask() {
        runs++;
        throw resourceErr();
      },
    });
    const task = await runtime.scheduler.scheduleTask({ agent_id: id });
    await settle();
    for (const delay of [1_000, 2_000, 4_000]) {
      expect(await runtime.scheduler.getTaskStatus(task.id)).toMatchObject({ state: "Retrying" });
      await clock.advance(delay - 1);
      await settle();
      expect((await runtime.scheduler.getTaskStatus(task.id)).state).toBe("Retrying");
      await clock.advance(1);
      await settle();
    }
    expect(runs).toBe(4);
    expect(seen.filter((e) => e.type === "task.retrying").map((e) => (e as { delay_ms: number }).delay_ms)).toEqual([1_000, 2_000, 4_000]);
    expect(await runtime.scheduler.getTaskStatus(task.id)).toMatchObject({ state: "Failed", error: { code: "USAGE_EXCEEDED" } });
    await runtime.shutdown();
  });

  it("Restart (SystemError) restarts the agent through the lifecycle, then runs the task again", async () => {
    const { runtime } = await makeRuntime();
    let runs = 0;
    const id = await startAgent(runtime, {}, {
      onTask() {
        if (++runs === 1) throw new Error("crashed");
        return "second time lucky";
      },
    });
    const task = await runtime.scheduler.scheduleTask({ agent_id: id });
    await settle();
    expect(await runtime.scheduler.getTaskStatus(task.id)).toMatchObject({ state: "Completed", result: "second time lucky" });
    const agent = await runtime.lifecycle.getAgent(id);
    expect(agent.restart_count).toBe(1);
    expect(agent.state).toBe("Running");
    expect((await runtime.errorHandler.getErrorStats(id)).actions.Restart).toBe(1);
    await runtime.shutdown();
  });

  it("Suspend (PolicyViolation) suspends the agent; its queued tasks wait for resume", async () => {
    const { runtime } = await makeRuntime();
    let fail = true;
    const id = await startAgent(runtime, {}, {
      onTask() {
        if (fail) throw new PolicyError("POLICY_DENIED", "not allowed");
        return "ok";
      },
    });
    const first = await runtime.scheduler.scheduleTask({ agent_id: id });
    await settle();
    expect(await runtime.lifecycle.getAgentState(id)).toBe("Suspended");
    expect((await runtime.scheduler.getTaskStatus(first.id)).state).toBe("Failed");
    fail = false;
    const second = await runtime.scheduler.scheduleTask({ agent_id: id });
    await settle();
    expect((await runtime.scheduler.getTaskStatus(second.id)).state).toBe("Pending");
    await runtime.lifecycle.resumeAgent(id);
    await settle();
    expect(await runtime.scheduler.getTaskStatus(second.id)).toMatchObject({ state: "Completed", result: "ok" });
    await runtime.shutdown();
  });

  it("Terminate (SecurityViolation) terminates the agent, cancels its queued tasks and destroys its sandbox", async () => {
    const { runtime, seen } = await makeRuntime({ scheduler: { max_concurrent_tasks: 1, worker_threads: 1 } });
    const id = await startAgent(runtime, {}, {
      onTask() {
        throw new SecurityError("SECURITY_VIOLATION", "tried to escape");
      },
    });
    const destroyed: AgentId[] = [];
    runtime.errorHandler.attach({ sandboxes: { destroyAgentSandbox: async (a) => void destroyed.push(a) } });
    const a = await runtime.scheduler.scheduleTask({ agent_id: id });
    const b = await runtime.scheduler.scheduleTask({ agent_id: id });
    await settle();
    await expect(runtime.lifecycle.getAgent(id)).rejects.toMatchObject({ code: "AGENT_NOT_FOUND" });
    expect(seen.some((e) => e.type === "agent.state_changed" && e.agent_id === id && e.to === "Terminated")).toBe(true);
    expect(destroyed).toEqual([id]);
    expect((await runtime.scheduler.getTaskStatus(a.id)).state).toBe("Failed");
    expect((await runtime.scheduler.getTaskStatus(b.id)).state).toBe("Cancelled");
    await runtime.shutdown();
  });

  it("Failover (ValidationError) moves the agent's pending tasks to a backup with the same capabilities", async () => {
    const { runtime } = await makeRuntime({ scheduler: { max_concurrent_tasks: 1, worker_threads: 1 } });
    const done: string[] = [];
    const primary = await startAgent(runtime, { capabilities: ["Database"] }, {
      onTask() {
        throw new ValidationError("input", [{ path: "x", message: "bad" }]);
      },
    });
    await startAgent(runtime, { capabilities: ["Database", { Custom: "gpu" }] }, {
      onTask(input) {
        done.push(String(input));
        return "handled by backup";
      },
    });
    const tasks = [];
    for (const input of ["a", "b", "c"]) tasks.push(await runtime.scheduler.scheduleTask({ agent_id: primary, input }));
    await settle();
    expect(done.sort()).toEqual(["a", "b", "c"]);
    for (const t of tasks) expect(await runtime.scheduler.getTaskStatus(t.id)).toMatchObject({ state: "Completed", result: "handled by backup" });
    expect((await runtime.errorHandler.getErrorStats(primary)).actions.Failover).toBe(1);
    await runtime.shutdown();
  });

  it("ValidationError without a backup terminates the agent", async () => {
    const { runtime } = await makeRuntime();
    const id = await startAgent(runtime, {}, {
      onTask() {
        throw new ValidationError("input", []);
      },
    });
    const action = await runtime.errorHandler.handleError(id, new ValidationError("input", []));
    expect(action).toEqual({ type: "Terminate" });
    await expect(runtime.lifecycle.getAgentState(id)).rejects.toMatchObject({ code: "AGENT_NOT_FOUND" });
    await runtime.shutdown();
  });

  it("Suspend works for an Ephemeral agent that is finishing its task (Running → Completed)", async () => {
    const { runtime } = await makeRuntime();
    const id = await startAgent(runtime, { execution_mode: { type: "Ephemeral" } }, {
      onTask() {
        throw new PolicyError("POLICY_DENIED", "not allowed");
      },
    });
    const t = await runtime.scheduler.scheduleTask({ agent_id: id });
    await runtime.scheduler.waitForTask(t.id);
    await settle();
    expect(await runtime.lifecycle.getAgentState(id)).toBe("Suspended");
    expect((await runtime.errorHandler.getSystemErrorStats()).failed_recoveries).toBe(0);
    await runtime.shutdown();
  });

  it("Restart{preserve_state: false} gives the agent a fresh sandbox", async () => {
    const { runtime } = await makeRuntime();
    await runtime.errorHandler.registerStrategy("SystemError", { type: "Restart", preserve_state: false });
    const destroyed: AgentId[] = [];
    runtime.errorHandler.attach({ sandboxes: { destroyAgentSandbox: async (a) => void destroyed.push(a) } });
    const id = await startAgent(runtime);
    expect(await runtime.errorHandler.handleError(id, new Error("x"))).toEqual({ type: "Restart" });
    expect(destroyed).toEqual([id]);
    expect((await runtime.lifecycle.getAgent(id)).restart_count).toBe(1);
    await runtime.shutdown();
  });

  it("with enable_auto_recovery off, recovery is decided but not carried out", async () => {
    const { runtime, seen } = await makeRuntime({ error_handler: { enable_auto_recovery: false } });
    const id = await startAgent(runtime);
    expect(await runtime.errorHandler.handleError(id, new Error("boom"))).toEqual({ type: "Restart" });
    expect((await runtime.lifecycle.getAgent(id)).restart_count).toBe(0);
    expect(seen.find((e) => e.type === "error.handled")).toMatchObject({ action: "Restart", executed: false });
    await runtime.shutdown();
  });

  it("past max_recovery_attempts in the window the agent is suspended instead of restarted again", async () => {
    const { runtime } = await makeRuntime({ error_handler: { max_recovery_attempts: 2 }, lifecycle: { max_restart_attempts: 10 } });
    const id = await startAgent(runtime);
    expect(await runtime.errorHandler.handleError(id, new Error("1"))).toEqual({ type: "Restart" });
    expect(await runtime.errorHandler.handleError(id, new Error("2"))).toEqual({ type: "Restart" });
    expect(await runtime.errorHandler.handleError(id, new Error("3"))).toMatchObject({ type: "Suspend" });
    expect(await runtime.lifecycle.getAgentState(id)).toBe("Suspended");
    await runtime.shutdown();
  });
});

describe("error handler - circuit breaker, escalation, statistics", () => {
  it("opens after threshold failures, fails fast, half-opens after the timeout and closes on success", async () => {
    const { runtime, clock, seen } = await makeRuntime({
      error_handler: { circuit_breaker_threshold: 3, circuit_breaker_timeout: 10_000, escalation_threshold: 100 },
      scheduler: { retry_attempts: 0 },
    });
    let healthy = false;
    const id = await startAgent(runtime, {}, {
      onTask() {
        if (!healthy) throw networkErr();
        return "ok";
      },
    });
    for (let i = 0; i < 3; i++) await runtime.scheduler.scheduleTask({ agent_id: id });
    await settle();
    expect(runtime.errorHandler.getCircuitState(id)).toBe("Open");
    await expect(runtime.scheduler.scheduleTask({ agent_id: id })).rejects.toMatchObject({ code: "CIRCUIT_OPEN", status: 503 });

    await clock.advance(10_000);
    expect(runtime.errorHandler.getCircuitState(id)).toBe("HalfOpen");
    healthy = true;
    await runtime.scheduler.pauseScheduling();
    const trial = await runtime.scheduler.scheduleTask({ agent_id: id });
    const second = await runtime.scheduler.scheduleTask({ agent_id: id });
    await runtime.scheduler.resumeScheduling();
    await settle();
    // One trial went through; the other was refused while the breaker was not closed.
    expect((await runtime.scheduler.getTaskStatus(trial.id)).state).toBe("Completed");
    expect(await runtime.scheduler.getTaskStatus(second.id)).toMatchObject({ state: "Failed", error: { code: "CIRCUIT_OPEN" } });
    expect(runtime.errorHandler.getCircuitState(id)).toBe("Closed");
    expect(seen.map((e) => e.type).filter((t) => t.startsWith("error.circuit"))).toEqual([
      "error.circuit_opened",
      "error.circuit_half_opened",
      "error.circuit_closed",
    ]);
    await runtime.shutdown();
  });

  it("a failing half-open trial opens the breaker again", async () => {
    const { runtime, clock } = await makeRuntime({ error_handler: { circuit_breaker_threshold: 1, circuit_breaker_timeout: 1_000 }, scheduler: { retry_attempts: 0 } });
    const id = await startAgent(runtime, {}, {
      onTask() {
        throw networkErr();
      },
    });
    await runtime.scheduler.scheduleTask({ agent_id: id });
    await settle();
    await clock.advance(1_000);
    await runtime.scheduler.scheduleTask({ agent_id: id });
    await settle();
    expect(runtime.errorHandler.getCircuitState(id)).toBe("Open");
    await runtime.shutdown();
  });

  it("escalates past escalation_threshold: event and suspension; thresholds are per agent", async () => {
    const { runtime, seen } = await makeRuntime({ error_handler: { escalation_threshold: 50, circuit_breaker_threshold: 100 } });
    const calm = await startAgent(runtime);
    const noisy = await startAgent(runtime);
    await runtime.errorHandler.setErrorThresholds(noisy, { escalation_threshold: 2 });
    await runtime.errorHandler.registerStrategy("NetworkError", { type: "None" });
    for (let i = 0; i < 3; i++) {
      await runtime.errorHandler.handleError(noisy, networkErr());
      await runtime.errorHandler.handleError(calm, networkErr());
    }
    expect(seen.filter((e) => e.type === "error.escalated").map((e) => e.agent_id)).toEqual([noisy]);
    expect(await runtime.lifecycle.getAgentState(noisy)).toBe("Suspended");
    expect(await runtime.lifecycle.getAgentState(calm)).toBe("Running");
    const stats = await runtime.errorHandler.getErrorStats(noisy);
    expect(stats).toMatchObject({ total_errors: 3, recent_errors: 3, escalations: 1, thresholds: { escalation_threshold: 2 } });
    expect(stats.errors_by_type.NetworkError).toBe(3);
    await runtime.shutdown();
  });

  it("keeps history bounded, counts per agent and system-wide, and clears an agent's history", async () => {
    const { runtime, clock } = await makeRuntime({ error_handler: { max_error_history: 5, error_aggregation_window: 1_000, escalation_threshold: 100, circuit_breaker_threshold: 100 } });
    await runtime.errorHandler.registerStrategy("ResourceExhaustion", { type: "None" });
    const a = await startAgent(runtime);
    const b = await startAgent(runtime);
    for (let i = 0; i < 8; i++) await runtime.errorHandler.handleError(a, resourceErr());
    await runtime.errorHandler.handleError(b, resourceErr());
    expect(await runtime.errorHandler.getErrorHistory()).toHaveLength(5);
    expect(await runtime.errorHandler.getErrorHistory(a)).toHaveLength(5);
    let sys = await runtime.errorHandler.getSystemErrorStats();
    expect(sys).toMatchObject({ total_errors: 9, agents_with_errors: 2, history_size: 5 });
    await clock.advance(1_000);
    expect((await runtime.errorHandler.getErrorStats(a)).recent_errors).toBe(0);
    await runtime.errorHandler.clearErrorHistory(a);
    expect((await runtime.errorHandler.getErrorStats(a)).total_errors).toBe(0);
    expect(await runtime.errorHandler.getErrorHistory(a)).toEqual([]);
    sys = await runtime.errorHandler.getSystemErrorStats();
    expect(sys.total_errors).toBe(1);
    expect((await runtime.errorHandler.getErrorHistory()).every((r) => r.agent_id === b)).toBe(true);
    await runtime.shutdown();
  });

  it("a direct call with no agent record still classifies and reports (lifecycle refusal is a failed recovery)", async () => {
    const clock = new ManualClock();
    const events = new RuntimeEvents(clock, silentLogger());
    const seen: RuntimeEvent[] = [];
    events.onAny((e) => seen.push(e));
    const { controller } = makeLifecycle();
    const h = new DefaultErrorHandler({ config: resolveConfig({}).error_handler, clock, events, logger: silentLogger(), lifecycle: controller });
    const created = await controller.createAgent(agentConfig());
    expect(await h.handleError(created.id, new Error("x"))).toEqual({ type: "Restart" });
    expect(seen.find((e) => e.type === "error.recovery_failed")).toMatchObject({ action: "Restart", code: "INVALID_STATE_TRANSITION" });
    expect((await h.getSystemErrorStats()).failed_recoveries).toBe(1);
  });
});
