/**
 * Tier3 microVM costs, each as p50/p95 against the same quantity on Tier0 (bubblewrap) measured in the same
 * run: create→start→first command from the warm pool (an idle, already restored guest; the pool is refilled
 * between samples, outside the timing), with the pool empty (restore from the saved VM state during create)
 * and with a cold kernel boot; and the round trip of one command in a running sandbox, in wall time and in
 * CPU time (the runtime process plus the sandbox's host cgroup: the VMM, or Tier0's processes), which the
 * load of a shared machine does not inflate. Targets: warm p50 < 1 s, round trip p50 < 100 ms.
 *
 * Run (as root, after scripts/build-microvm-assets.sh): `npm run bench -- microvm`
 */
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Authorizer } from "../../src/core/authorizer.js";
import { SystemClock } from "../../src/core/clock.js";
import { resolveConfig, type RuntimeConfigInput } from "../../src/core/config/index.js";
import { RuntimeEvents } from "../../src/core/events.js";
import { AgentId } from "../../src/core/ids.js";
import { silentLogger } from "../../src/core/logger.js";
import type { SecurityTier } from "../../src/core/types.js";
import { createSandboxOrchestrator, type DefaultSandboxOrchestrator } from "../../src/sandbox/index.js";
import type { SandboxConfig } from "../../src/sandbox/types.js";
import { percentile, round, timeMs, type Metric } from "../lib.js";

const allowAll: Authorizer = { check: async () => ({ allowed: true }) };

async function orchestrator(sandbox: RuntimeConfigInput["sandbox"]): Promise<{ o: DefaultSandboxOrchestrator; close: () => Promise<void> }> {
  const dataDir = await mkdtemp(join(tmpdir(), "symbiont-bench-"));
  await chmod(dataDir, 0o711);
  const config = resolveConfig({ data_dir: dataDir, sandbox });
  const clock = new SystemClock();
  const logger = silentLogger();
  const o = await createSandboxOrchestrator({ config: config.sandbox, dataDir, clock, logger, events: new RuntimeEvents(clock, logger), authorizer: allowAll });
  return { o, close: async () => (await o.shutdown(), await rm(dataDir, { recursive: true, force: true })) };
}

function cfg(tier: SecurityTier): SandboxConfig {
  return {
    agent_id: AgentId.new(),
    security_tier: tier,
    resource_limits: { memory_mb: 64, cpu_cores: 1, disk_io_mbps: 100, network_io_mbps: 10, execution_timeout: 30_000, idle_timeout: 60_000 },
    network_config: { enabled: false },
    filesystem_config: { mounts: [] },
    environment_variables: {},
  };
}

/** create → start → first command, n times (sandboxes destroyed, and the warm pool refilled, outside the timing). */
async function firstCommand(o: DefaultSandboxOrchestrator, tier: SecurityTier, n: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    await o.prepareTier(tier);
    let id: Awaited<ReturnType<typeof o.createSandbox>> | undefined;
    times.push(
      await timeMs(async () => {
        id = await o.createSandbox(cfg(tier));
        await o.startSandbox(id);
        const r = await o.executeCommand(id, "true", []);
        if (r.exit_code !== 0) throw new Error(`first command failed on ${tier}: ${r.stderr}`);
      }),
    );
    await o.destroySandbox(id!);
  }
  return times.sort((a, b) => a - b);
}

/** Wall times of n round trips, and their mean CPU time (runtime process + the sandbox's host cgroup), ms. */
async function roundTrips(o: DefaultSandboxOrchestrator, tier: SecurityTier, n: number): Promise<{ wall: number[]; cpuMs: number }> {
  const id = await o.createSandbox(cfg(tier));
  await o.startSandbox(id);
  // Steady state: the warm pool's refill after this create is over before the timing starts.
  await o.prepareTier(tier);
  await o.executeCommand(id, "true", []);
  const wall: number[] = [];
  const sandboxCpu0 = (await o.getSandboxUsage(id)).cpu_time_ms;
  const self0 = process.cpuUsage();
  for (let i = 0; i < n; i++) wall.push(await timeMs(async () => void (await o.executeCommand(id, "echo", ["x"]))));
  const self = process.cpuUsage(self0);
  const sandboxCpu = (await o.getSandboxUsage(id)).cpu_time_ms - sandboxCpu0;
  await o.destroySandbox(id);
  return { wall: wall.sort((a, b) => a - b), cpuMs: ((self.user + self.system) / 1000 + sandboxCpu) / n };
}

function pair(name: string, vm: number[], base: number[], targetP50?: string): Metric[] {
  return ([50, 95] as const).map((p) => {
    const value = round(percentile(vm, p), 1);
    const baseline = round(percentile(base, p), 1);
    return {
      name: `${name}_p${p}`,
      value,
      unit: "ms",
      baseline,
      ratio: round(value / baseline, 2),
      ...(p === 50 && targetP50 ? { target: targetP50 } : {}),
    };
  });
}

export async function run(): Promise<Metric[]> {
  const warm = await orchestrator({ prepare_tiers: ["Tier0", "Tier3"], microvm: { pool_memory_mb: [64] } });
  const restore = await orchestrator({ prepare_tiers: ["Tier3"], microvm: { pool_memory_mb: [64], pool_size: 0 } });
  const cold = await orchestrator({ prepare_tiers: ["Tier3"], microvm: { warm_pool: false } });
  try {
    const baseFirst = await firstCommand(warm.o, "Tier0", 10);
    const warmFirst = await firstCommand(warm.o, "Tier3", 8);
    const restoreFirst = await firstCommand(restore.o, "Tier3", 5);
    const coldFirst = await firstCommand(cold.o, "Tier3", 3);
    const baseRt = await roundTrips(warm.o, "Tier0", 30);
    const vmRt = await roundTrips(warm.o, "Tier3", 30);
    const metrics: Metric[] = [
      ...pair("warm_create_to_first_command", warmFirst, baseFirst),
      ...pair("restore_create_to_first_command", restoreFirst, baseFirst),
      ...pair("cold_create_to_first_command", coldFirst, baseFirst),
      ...pair("command_round_trip", vmRt.wall, baseRt.wall),
      { name: "command_round_trip_cpu", value: round(vmRt.cpuMs, 1), unit: "ms", baseline: round(baseRt.cpuMs, 1), ratio: round(vmRt.cpuMs / baseRt.cpuMs, 2) },
    ];
    // Targets apply to the microVM's own value (the ratio to Tier0 is reported alongside).
    metrics.push({ name: "warm_create_to_first_command_p50_target", value: round(percentile(warmFirst, 50), 1), unit: "ms", target: "< 1000" });
    metrics.push({ name: "command_round_trip_p50_target", value: round(percentile(vmRt.wall, 50), 1), unit: "ms", target: "< 100" });
    return metrics;
  } finally {
    await warm.close();
    await restore.close();
    await cold.close();
  }
}
