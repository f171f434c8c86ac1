/**
 * The spec's "Complete Agent Lifecycle" example, ported to TypeScript against the real classes.
 *
 * Everything the spec's example does is built: the lifecycle controller, the resource manager (allocate,
 * measured usage, deallocate), the communication bus (register, send, receive, unregister) and task
 * scheduling (Scheduler + agent executor; the agent's work here is an in-process handler), all wired by the
 * composition root.
 *
 * Run: `npx tsx examples/lifecycle.ts`
 */
import { MessageId } from "../src/core/ids.js";
import { createRuntime } from "../src/runtime.js";
import { parseAgentConfig } from "../src/core/schemas.js";
import { silentLogger } from "../src/core/logger.js";

export async function main(log: (line: string) => void = console.log): Promise<void> {
  // The memory store keeps the example from leaving state behind; `symbiont up` uses the durable default.
  const runtime = await createRuntime({ config: { store: { kind: "memory" } }, logger: silentLogger() });
  const lifecycle = runtime.lifecycle;

  const agentConfig = parseAgentConfig({
    name: "example_agent",
    dsl_source: "agent logic",
    execution_mode: { type: "Persistent" },
    security_tier: "Tier2",
    resource_limits: {
      memory_mb: 512,
      cpu_cores: 1.0,
      disk_io_mbps: 50,
      network_io_mbps: 10,
      execution_timeout: 3_600_000,
      idle_timeout: 300_000,
    },
    capabilities: ["FileSystem", "Network"],
    policies: [],
    metadata: {},
    priority: "Normal",
  });

  const agent = await lifecycle.createAgent(agentConfig);
  log(`Created agent: ${agent.id}`);

  // Admission control against the machine's totals less the reservation; applied to the agent's sandbox
  // when it has one.
  const allocation = await runtime.resources.allocateResources(agent.id, agentConfig.resource_limits);
  log(`Allocated resources for agent: ${allocation.agent_id} (${allocation.limits.memory_mb} MiB, ${allocation.limits.cpu_cores} cores)`);
  await runtime.bus.registerAgent(agent.id, agentConfig.capabilities);
  log("Registered agent with communication bus");

  await lifecycle.initializeAgent(agent.id);
  await lifecycle.startAgent(agent.id);
  log("Agent started successfully");

  // Schedule a task (the spec's ScheduledTask; this agent's work is a trusted in-process handler).
  runtime.executor.registerHandler(agent.id, {
    onTask: (input) => `processed ${JSON.stringify(input)}`,
  });
  const task = await runtime.scheduler.scheduleTask({
    agent_id: agent.id,
    priority: "Normal",
    scheduled_time: Date.now(),
    timeout: 60_000,
    retry_count: 0,
    input: { greeting: "Hello, world!" },
  });
  const status = await runtime.scheduler.waitForTask(task.id);
  log(`Task ${status.state}: ${status.state === "Completed" ? String(status.result) : JSON.stringify(status)}`);

  await runtime.bus.sendMessage({
    id: MessageId.new(),
    from: agent.id,
    to: agent.id, // Self-message for demo
    topic: "test_topic",
    payload: new TextEncoder().encode("Hello, world!"),
    priority: "Normal",
    ttl: 300_000,
  });
  for (const m of await runtime.bus.receiveMessages(agent.id)) {
    log(`Received message: ${new TextDecoder().decode(m.message.payload)}`);
  }

  const state = await lifecycle.getAgentState(agent.id);
  log(`Agent state: ${state}`);

  // Measured from the agent's sandbox; this agent has none yet (nothing has run), so it reads as unmeasured zeros.
  const usage = await runtime.resources.getResourceUsage(agent.id);
  log(`Resource usage: ${usage.measured ? `${usage.memory_used} bytes, ${usage.cpu_usage.toFixed(2)} cores` : "no sandbox (nothing measured)"}`);

  // Terminating also unregisters the agent from the bus (a lifecycle hook wired in runtime.ts), so a later
  // explicit unregister reports AGENT_NOT_REGISTERED.
  // Termination also releases the agent's resource allocation (another lifecycle hook).
  await lifecycle.terminateAgent(agent.id);
  log("Agent terminated");
  if (runtime.resources.getAllocation(agent.id) === undefined) log("Resources released");
  const registered = await runtime.bus.getAgentTopics(agent.id).then(
    () => true,
    () => false,
  );
  log(registered ? "Agent still registered with the bus" : "Unregistered agent from communication bus");
  await runtime.shutdown();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await main();
}
