/**
 * The resource manager against real Tier0 sandboxes: usage measured from cgroup accounting, limits changed
 * live. Needs root, bubblewrap and cgroups (skips with the reason otherwise; fails under
 * SYMBIONT_REQUIRE_TIERS=process).
 */
import { readdirSync, readFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { requirement } from "../../test/helpers/requirements.js";
import { SystemClock } from "../core/clock.js";
import { resolveConfig } from "../core/config/index.js";
import type { RuntimeError } from "../core/errors.js";
import type { RuntimeEvent } from "../core/events.js";
import { AgentId, type SandboxId } from "../core/ids.js";
import { silentLogger } from "../core/logger.js";
import type { ResourceLimits, SecurityTier } from "../core/types.js";
import { makeSandboxHarness } from "../sandbox/sandbox.contract.js";
import type { SandboxHarness } from "../sandbox/sandbox.contract.js";
import type { SandboxProcess } from "../sandbox/types.js";
import { createResourceManager } from "./default-resource-manager.js";
import type { ResourceManager } from "./types.js";

const MIB = 1024 * 1024;
function limits(memory_mb: number, cpu_cores: number): ResourceLimits {
  return { memory_mb, cpu_cores, disk_io_mbps: 100, network_io_mbps: 10, execution_timeout: 60_000, idle_timeout: 60_000 };
}

async function setup(h: SandboxHarness) {
  const clock = new SystemClock();
  const logger = silentLogger();
  // One stream, as in the runtime: the manager hears the orchestrator's kills and new sandboxes.
  const events = h.stream;
  const seen: RuntimeEvent[] = [];
  events.onAny((e) => seen.push(e));
  const received: RuntimeError[] = [];
  const manager = await createResourceManager({
    config: resolveConfig({ resources: { total_cpu_cores: 4, monitoring_interval: 60_000 } }).resources,
    dataDir: h.dataDir,
    clock,
    logger,
    events,
    authorizer: { check: async () => ({ allowed: true }) },
    sandboxes: h.orchestrator,
    errorReporter: { handleError: async (_agent, error) => (received.push(error), { type: "Restart" }) },
  });
  return { manager, seen, received };
}

async function sandboxFor(h: SandboxHarness, agent_id: AgentId): Promise<SandboxId> {
  const id = await h.orchestrator.createSandbox(h.config({ agent_id, memory_mb: 64, cpu_cores: 1 }));
  await h.orchestrator.startSandbox(id);
  return id;
}

/** Starts `script` in the sandbox and waits until it prints "ready". */
async function startReady(h: SandboxHarness, id: SandboxId, command: string, args: string[]): Promise<SandboxProcess> {
  const p = await h.orchestrator.spawnProcess(id, command, args);
  await new Promise<void>((resolve, reject) => {
    let out = "";
    p.stdout.on("data", (c: Buffer) => {
      out += c.toString();
      if (out.includes("ready")) resolve();
    });
    void p.exited.then((e) => reject(new Error(`exited early: ${JSON.stringify(e)}`)));
  });
  return p;
}

/** Host pid of the process whose command line contains `marker`. */
function pidWith(marker: string): number {
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, "utf8");
      if (cmd.includes(marker) && !cmd.includes("bwrap") && !cmd.includes("setpriv")) return Number(name);
    } catch {
      // gone
    }
  }
  throw new Error(`no process with ${marker}`);
}

/** CPU seconds of one process from the kernel's per-process accounting (utime + stime, 100 Hz ticks). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** dd's one 100 MiB buffer, refilled from /dev/zero over and over: every page of it stays resident. */
const HOLD_100_MIB = ["-c", "echo ready; exec dd if=/dev/zero of=/dev/null bs=100M count=1000000000"];

/** Waits until the agent's measured memory passes `bytes` (the buffer is being filled), or 10 s. */
async function memoryAbove(manager: ResourceManager, agent: AgentId, bytes: number): Promise<number> {
  let used = 0;
  for (let i = 0; i < 100 && used < bytes; i++) {
    used = (await manager.getResourceUsage(agent)).memory_used;
    if (used < bytes) await new Promise((r) => setTimeout(r, 100));
  }
  return used;
}

/**
 * `hostVisible`: the sandbox's processes are host processes whose memory and cpu the host accounts to them
 * alone. Under gVisor the figures include the sandbox kernel and its processes are not host processes, so
 * the ±20% and /proc cross-checks do not apply; its limits and kills do.
 */
const TIERS: readonly { name: string; tier: SecurityTier; hostVisible: boolean }[] = [
  { name: "process", tier: "Tier0", hostVisible: true },
  { name: "docker", tier: "Tier1", hostVisible: true },
  { name: "gvisor", tier: "Tier2", hostVisible: false },
];

for (const { name, tier, hostVisible } of TIERS) {
  const h = await makeSandboxHarness({ default_tier: tier, docker: { warm_pool_size: 0 } });
  const req = await requirement(name, async () => {
    try {
      await h.orchestrator.prepareTier(tier);
      return true;
    } catch (err) {
      return (err as Error).message;
    }
  });
  afterAll(() => h.close());

describe.skipIf(!req.available)(`resource manager - measured on ${tier} (${name})`, () => {
  if (hostVisible) it("usage - a process holding ~100 MiB reads within ±20% of it; allocation pushes the limit to the sandbox", async () => {
    const { manager } = await setup(h);
    const agent = AgentId.new();
    const box = await sandboxFor(h, agent);
    await manager.allocateResources(agent, limits(256, 1));
    expect((await h.orchestrator.getSandboxUsage(box)).memory_limit_bytes).toBe(256 * MIB);
    const p = await startReady(h, box, "sh", HOLD_100_MIB);
    await memoryAbove(manager, agent, 90 * MIB);
    const u = await manager.getResourceUsage(agent);
    expect(u.measured).toBe(true);
    expect(u.sandbox_ids).toEqual([box]);
    expect(u.memory_used).toBeGreaterThan(100 * MIB * 0.8);
    expect(u.memory_used).toBeLessThan(100 * MIB * 1.2);
    expect(u.pids).toBeGreaterThanOrEqual(1);
    // A sandbox made after the allocation is held to the allocation's limits too.
    const later = await sandboxFor(h, agent);
    await expect.poll(async () => (await h.orchestrator.getSandboxUsage(later)).memory_limit_bytes).toBe(256 * MIB);
    expect(u.uptime).toBeGreaterThan(0);
    p.kill();
    await p.exited;
    await manager.shutdown();
    await h.orchestrator.destroySandbox(box);
    await h.orchestrator.destroySandbox(later);
  });

  if (hostVisible) it("usage - a spinning process under a 0.5-core limit reads near 0.5 cores", async () => {
    const { manager } = await setup(h);
    const limited = AgentId.new();
    const control = AgentId.new();
    const boxA = await sandboxFor(h, limited);
    const boxB = await sandboxFor(h, control);
    await manager.allocateResources(limited, limits(64, 0.5));
    await manager.allocateResources(control, limits(64, 1.25));
    const marker = `spin-${AgentId.new()}`;
    const spin = ["-c", `: ${marker}; echo ready; while :; do :; done`];
    const pa = await startReady(h, boxA, "sh", spin);
    const pb = await startReady(h, boxB, "sh", spin);
    const pid = pidWith(marker);
    const t0 = performance.now();
    const c0 = cpuSeconds(pid);
    await manager.getResourceUsage(limited);
    await manager.getResourceUsage(control);
    // A long window: on a busy 2-core machine a short one is mostly scheduling noise.
    await new Promise((r) => setTimeout(r, 4000));
    const a = (await manager.getResourceUsage(limited)).cpu_usage;
    const kernel = (cpuSeconds(pid) - c0) / ((performance.now() - t0) / 1000);
    const b = (await manager.getResourceUsage(control)).cpu_usage;
    console.log(`[resources ${tier}] spinner under a 0.5-core limit: ${a.toFixed(3)} cores (its /proc accounting: ${kernel.toFixed(3)}); control spinner: ${b.toFixed(3)} cores`);
    // The quota holds (CFS may overshoot a little within a period) ...
    expect(a).toBeLessThan(0.6);
    // ... the reading is what the kernel accounts to the process ...
    expect(Math.abs(a - kernel)).toBeLessThan(0.05 + 0.15 * kernel);
    // ... and it is near 0.5 unless the machine starved even the control (a loaded 2-core host).
    expect(a).toBeGreaterThan(0.6 * Math.min(0.5, b));
    expect(a).toBeGreaterThan(0.02);
    pa.kill();
    pb.kill();
    await Promise.all([pa.exited, pb.exited]);
    await manager.shutdown();
    await h.orchestrator.destroySandbox(boxA);
    await h.orchestrator.destroySandbox(boxB);
  });

  it("update - lowering the memory limit below usage kills the process live and the violation is reported", async () => {
    const { manager, seen, received } = await setup(h);
    const agent = AgentId.new();
    const box = await sandboxFor(h, agent);
    await manager.allocateResources(agent, limits(256, 1));
    const p = await startReady(h, box, "sh", HOLD_100_MIB);
    expect(await memoryAbove(manager, agent, 90 * MIB)).toBeGreaterThan(90 * MIB);
    await manager.updateResourceLimits(agent, limits(50, 1));
    const exit = await p.exited;
    // SIGKILL on host-visible tiers; under gVisor the whole sandbox kernel dies and the exec ends without a signal.
    if (hostVisible) expect(exit.exit_code).toBe(137);
    else expect(exit.exit_code).not.toBe(0);
    expect((await h.orchestrator.getSandboxUsage(box)).memory_limit_bytes).toBe(50 * MIB);
    const violation = seen.find((e) => e.type === "resource.violation");
    expect(violation).toMatchObject({ agent_id: agent, resource: "memory", kind: "killed", enforced: true });
    expect(seen.find((e) => e.type === "resource.limits_updated")).toMatchObject({ killed: true });
    // The error handler got it as ResourceExhaustion and its action is on record.
    expect(received).toHaveLength(1);
    expect(received[0]!.code).toBe("USAGE_EXCEEDED");
    expect(seen.find((e) => e.type === "resource.enforced")).toMatchObject({ agent_id: agent, action: "Restart" });
    // The sandbox lives on under the new limit.
    const r = await h.orchestrator.executeCommand(box, "true", []);
    expect(r.exit_code).toBe(0);
    await manager.shutdown();
    await h.orchestrator.destroySandbox(box);
  });
});
}
