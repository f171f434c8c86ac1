import { afterEach, describe, expect, it } from "vitest";
import { authorize, BuiltinAuthorizer } from "../core/authorizer.js";
import { AgentId } from "../core/ids.js";
import { agentConfig, makeLifecycle } from "../../test/helpers/runtime.js";
import { sqliteTrail, type TrailFixture } from "../../test/helpers/audit.js";
import type { AuditEventType } from "./types.js";

/** Events other components declare in their own modules; emitted here by name as they will be. */
type LooseEmit = (type: string, payload: Record<string, unknown>) => void;

describe("audit recorder - runtime events become audit records", () => {
  let fx: TrailFixture | undefined;
  afterEach(async () => {
    await fx?.dispose();
    fx = undefined;
  });

  async function setup() {
    const life = makeLifecycle({ enable_auto_recovery: false });
    fx = await sqliteTrail({}, { events: life.events, clock: life.clock, recordRuntimeEvents: true });
    return { ...life, trail: fx.trail };
  }

  it("recorder - the real lifecycle controller's transitions are recorded with the mapped types", async () => {
    const { controller, trail } = await setup();
    const agent = await controller.createAgent(agentConfig({ name: "audited" }));
    await controller.initializeAgent(agent.id);
    await controller.startAgent(agent.id);
    await controller.suspendAgent(agent.id);
    await controller.resumeAgent(agent.id);
    await controller.stopAgent(agent.id);
    await controller.terminateAgent(agent.id);
    await trail.flush();
    const records = await trail.queryEvents({ agent_id: agent.id });
    const seen = records.map((r) => [r.event_type, r.metadata.event, r.metadata.to ?? ""]);
    expect(seen).toEqual([
      ["AgentCreated", "agent.created", ""],
      ["AgentStateChanged", "agent.state_changed", "Initializing"],
      ["AgentStateChanged", "agent.state_changed", "Ready"],
      ["AgentStarted", "agent.state_changed", "Running"],
      ["AgentStopped", "agent.state_changed", "Suspended"],
      ["AgentStarted", "agent.state_changed", "Running"],
      ["AgentStopped", "agent.state_changed", "Completed"],
      ["AgentStateChanged", "agent.state_changed", "Terminating"],
      ["AgentTerminated", "agent.state_changed", "Terminated"],
      ["AgentTerminated", "agent.removed", ""],
    ]);
    expect(records[0]?.details).toContain("audited");
    expect(records.every((r) => r.agent_id === agent.id)).toBe(true);
    expect((await trail.verifyIntegrity()).valid).toBe(true);
  });

  it("recorder - a failed initialization hook is recorded as ErrorOccurred", async () => {
    const life = makeLifecycle({ enable_auto_recovery: false }, [
      {
        name: "failing",
        onInitialize: async () => {
          throw new Error("disk on fire");
        },
      },
    ]);
    fx = await sqliteTrail({}, { events: life.events, clock: life.clock, recordRuntimeEvents: true });
    const agent = await life.controller.createAgent(agentConfig());
    await expect(life.controller.initializeAgent(agent.id)).rejects.toMatchObject({ code: "INITIALIZATION_FAILED" });
    await fx.trail.flush();
    const errors = await fx.trail.queryEvents({ agent_id: agent.id, event_types: ["ErrorOccurred"] });
    expect(errors).toHaveLength(1);
    expect(errors[0]?.metadata.to).toBe("Failed");
  });

  it("recorder - a denial at an enforcement point is recorded as PolicyViolation", async () => {
    const { events, trail } = await setup();
    const agent_id = AgentId.new();
    await expect(
      authorize(new BuiltinAuthorizer(), events, { agent_id, action: "sandbox.network", resource: "example.com:443", context: {} }),
    ).rejects.toMatchObject({ code: "POLICY_DENIED" });
    await trail.flush();
    const [v] = await trail.queryEvents({ event_types: ["PolicyViolation"] });
    expect(v).toMatchObject({ agent_id, metadata: { action: "sandbox.network", resource: "example.com:443", policy_id: "builtin-default" } });
    expect(v?.details).toContain("denied by default");
  });

  it("recorder - events of the components built in parallel are mapped by name; unknown ones are kept as RuntimeEvent", async () => {
    const { events, trail } = await setup();
    const emit = events.emit.bind(events) as unknown as LooseEmit;
    const agent_id = AgentId.new();
    const cases: [string, Record<string, unknown>, AuditEventType][] = [
      ["resource.allocated", { agent_id, limits: { memory_mb: 64 } }, "ResourceAllocated"],
      ["resource.deallocated", { agent_id }, "ResourceDeallocated"],
      ["message.sent", { agent_id, message_id: "m1", to: AgentId.new(), topic: "t" }, "MessageSent"],
      ["message.delivered", { agent_id, message_id: "m1" }, "MessageReceived"],
      ["message.received", { agent_id, message_id: "m2" }, "MessageReceived"],
      ["message.failed", { agent_id, message_id: "m3", reason: "no route" }, "ErrorOccurred"],
      ["task.failed", { agent_id, error: "exit 3" }, "ErrorOccurred"],
      ["error.handled", { agent_id, action: "Restart", error: "boom" }, "ErrorOccurred"],
      ["sandbox.security_event", { agent_id, kind: "seccomp", syscall: "ptrace" }, "SecurityEvent"],
      ["resource.violation", { agent_id, resource: "memory" }, "SecurityEvent"],
      ["scheduler.something_new", { agent_id, payload: Buffer.from("abc") }, "RuntimeEvent"],
    ];
    for (const [name, payload] of cases) emit(name, payload);
    await trail.flush();
    const records = await trail.queryEvents({ agent_id });
    expect(records.map((r) => [r.metadata.event, r.event_type])).toEqual(cases.map(([n, , t]) => [n, t]));
    expect(records[0]?.metadata.limits).toBe('{"memory_mb":64}');
    expect(records[5]?.details).toContain("no route");
    expect(records[10]?.metadata.payload).toBe("<3 bytes>");
  });

  it("recorder - runtime events without an agent are recorded with agent_id null; audit's own events are not", async () => {
    const { events, trail } = await setup();
    events.emit("runtime.started", { version: "9.9.9" });
    events.emit("audit.write_failed", { code: "AUDIT_WRITE_FAILED", message: "x", records: 1 });
    await trail.flush();
    const records = await trail.queryEvents({});
    expect(records.map((r) => r.metadata.event)).toEqual(["runtime.started"]);
    expect(records[0]).toMatchObject({ agent_id: null, event_type: "RuntimeEvent", metadata: { version: "9.9.9" } });
  });
});
