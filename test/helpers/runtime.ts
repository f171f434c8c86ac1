/**
 * Shared fixtures: a quiet logger, an event recorder and a lifecycle controller on a manual clock.
 */
import { ManualClock } from "../../src/core/clock.js";
import { resolveConfig, type RuntimeConfigInput } from "../../src/core/config/index.js";
import { RuntimeEvents, type RuntimeEvent } from "../../src/core/events.js";
import { silentLogger } from "../../src/core/logger.js";
import { parseAgentConfig, type AgentConfigInput } from "../../src/core/schemas.js";
import type { AgentConfig } from "../../src/core/types.js";
import { DefaultLifecycleController } from "../../src/lifecycle/controller.js";
import type { LifecycleHooks } from "../../src/lifecycle/types.js";

export function agentConfig(overrides: Partial<AgentConfigInput> = {}): AgentConfig {
  return parseAgentConfig({ name: "test-agent", ...overrides });
}

export function makeLifecycle(
  lifecycle: RuntimeConfigInput["lifecycle"] = {},
  hooks: LifecycleHooks[] = [],
): {
  clock: ManualClock;
  events: RuntimeEvents;
  seen: RuntimeEvent[];
  controller: DefaultLifecycleController;
} {
  const clock = new ManualClock();
  const logger = silentLogger();
  const events = new RuntimeEvents(clock, logger);
  const seen: RuntimeEvent[] = [];
  events.onAny((e) => seen.push(e));
  const config = resolveConfig({ lifecycle }).lifecycle;
  const controller = new DefaultLifecycleController({ config, clock, events, logger, hooks });
  return { clock, events, seen, controller };
}
