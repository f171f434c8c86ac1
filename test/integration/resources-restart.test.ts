/** Resource allocations are durable: committed before they are acknowledged, booked again after a restart. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/core/logger.js";
import { parseAgentConfig } from "../../src/core/schemas.js";
import { createRuntime } from "../../src/runtime.js";

const dataDir = mkdtempSync(join(tmpdir(), "symbiont-rt-alloc-"));
const start = () =>
  createRuntime({
    config: { data_dir: dataDir, resources: { total_memory: 8 * 1024 ** 3, total_cpu_cores: 4 }, lifecycle: { enable_auto_recovery: false } },
    logger: silentLogger(),
  });

describe("runtime - resource allocations across restarts", () => {
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it("an allocation and its updated limits come back; a deallocated one does not", async () => {
    const first = await start();
    const agent = await first.lifecycle.createAgent(parseAgentConfig({ name: "alloc" }));
    const other = await first.lifecycle.createAgent(parseAgentConfig({ name: "gone" }));
    const limits = { ...agent.config.resource_limits, memory_mb: 256, cpu_cores: 0.5 };
    await first.resources.allocateResources(agent.id, limits);
    await first.resources.updateResourceLimits(agent.id, { ...limits, memory_mb: 384 });
    await first.resources.allocateResources(other.id, limits);
    await first.resources.deallocateResources(other.id);
    const before = first.resources.getAllocation(agent.id);
    await first.shutdown();

    const second = await start();
    try {
      expect(second.recovery.allocations_restored).toBe(1);
      const after = second.resources.getAllocation(agent.id);
      expect(after?.limits).toEqual(before?.limits);
      expect(after?.limits.memory_mb).toBe(384);
      expect(after?.allocated_at).toBe(before?.allocated_at);
      expect(second.resources.getAllocation(other.id)).toBeUndefined();
      // Booked, so a second allocation for the same agent is refused as before the restart.
      await expect(second.resources.allocateResources(agent.id, limits)).rejects.toMatchObject({ code: "ALREADY_ALLOCATED" });
      // Terminating the agent frees its allocation, in the store as well.
      await second.lifecycle.initializeAgent(agent.id);
      await second.lifecycle.terminateAgent(agent.id);
      expect(second.resources.getAllocation(agent.id)).toBeUndefined();
      expect(await second.store.allocations.get(agent.id)).toBeUndefined();
    } finally {
      await second.shutdown();
    }
  });
});
