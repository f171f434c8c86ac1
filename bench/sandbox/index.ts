/**
 * Sandbox costs per tier against raw baselines measured in the same run:
 * - Tier0 exec (`true` in a fresh bwrap sandbox inside the sandbox's cgroup, as the sandbox user) against a
 *   bare `bwrap` spawn of `true` and a bare `child_process.spawn` of `true`;
 * - Docker exec in a running (warm) sandbox, and create+start from the warm pool, against a cold
 *   `docker run --rm` (create + start + wait + remove through the engine API, i.e. without the CLI's own
 *   start-up cost, which would flatter the ratios);
 * - gVisor exec in a running sandbox against a cold gVisor `docker run --rm`.
 * Tiers the host cannot run are reported and left out.
 *
 * Run: `npm run bench -- sandbox` (needs root, bubblewrap, dockerd and runsc: scripts/setup-host.sh).
 */
import { spawn } from "node:child_process";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type Docker from "dockerode";
import { BuiltinAuthorizer } from "../../src/core/authorizer.js";
import { SystemClock } from "../../src/core/clock.js";
import { resolveConfig } from "../../src/core/config/index.js";
import { RuntimeEvents } from "../../src/core/events.js";
import { AgentId } from "../../src/core/ids.js";
import { silentLogger } from "../../src/core/logger.js";
import type { SecurityTier } from "../../src/core/types.js";
import { createSandboxOrchestrator, type DefaultSandboxOrchestrator } from "../../src/sandbox/orchestrator.js";
import type { SandboxConfig } from "../../src/sandbox/types.js";
import { percentile, round, timeMs, type Metric } from "../lib.js";

const IMAGE = "local/symbiont-sandbox:1";

async function sample(n: number, fn: () => Promise<void>, between?: () => Promise<void>): Promise<{ p50: number; p95: number }> {
  const times: number[] = [];
  await fn(); // warm-up
  for (let i = 0; i < n; i++) {
    if (between) await between();
    times.push(await timeMs(fn));
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p95: percentile(times, 95) };
}

function spawnOnce(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: "ignore" });
    child.once("error", reject);
    child.once("close", (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}`))));
  });
}

function config(tier: SecurityTier): SandboxConfig {
  return {
    agent_id: AgentId.new(),
    security_tier: tier,
    resource_limits: { memory_mb: 128, cpu_cores: 1, disk_io_mbps: 100, network_io_mbps: 10, execution_timeout: 30_000, idle_timeout: 60_000 },
    network_config: { enabled: false },
    filesystem_config: { mounts: [] },
    environment_variables: {},
  };
}

async function coldRun(docker: Docker, runtime: string): Promise<void> {
  const c = await docker.createContainer({ Image: IMAGE, Cmd: ["true"], HostConfig: { NetworkMode: "none", Runtime: runtime } });
  await c.start();
  await c.wait();
  await c.remove({ force: true });
}

function pair(name: string, value: { p50: number; p95: number }, baseline: { p50: number; p95: number }, target?: string): Metric[] {
  return [
    { name: `${name}_p50`, value: round(value.p50, 2), unit: "ms", baseline: round(baseline.p50, 2), ratio: round(value.p50 / baseline.p50, 3), ...(target ? { target } : {}) },
    { name: `${name}_p95`, value: round(value.p95, 2), unit: "ms", baseline: round(baseline.p95, 2), ratio: round(value.p95 / baseline.p95, 3) },
  ];
}

async function tryTier(o: DefaultSandboxOrchestrator, tier: SecurityTier): Promise<boolean> {
  try {
    await o.prepareTier(tier);
    return true;
  } catch (err) {
    console.log(`  ${tier} skipped: ${(err as Error).message}`);
    return false;
  }
}

export async function run(): Promise<Metric[]> {
  const metrics: Metric[] = [];
  const dataDir = await mkdtemp(join(tmpdir(), "symbiont-bench-sbx-"));
  await chmod(dataDir, 0o711);
  const clock = new SystemClock();
  const logger = silentLogger();
  const cfg = resolveConfig({ data_dir: dataDir, sandbox: { docker: { warm_pool_size: 2 } } });
  const o = await createSandboxOrchestrator({
    config: cfg.sandbox,
    dataDir,
    clock,
    logger,
    events: new RuntimeEvents(clock, logger),
    authorizer: new BuiltinAuthorizer(),
  });
  try {
    const bareSpawn = await sample(40, () => spawnOnce("/bin/true", []));
    metrics.push({ name: "bare_spawn_p50", value: round(bareSpawn.p50, 2), unit: "ms" });

    if (await tryTier(o, "Tier0")) {
      const bwrapArgs = ["--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "--proc", "/proc", "--dev", "/dev", "--", "true"];
      const bareBwrap = await sample(40, () => spawnOnce("bwrap", bwrapArgs));
      const id = await o.createSandbox(config("Tier0"));
      await o.startSandbox(id);
      const exec = await sample(40, async () => void (await o.executeCommand(id, "true", [])));
      metrics.push(...pair("process_exec_vs_bare_bwrap", exec, bareBwrap, "<= 2.5"));
      metrics.push(...pair("process_exec_vs_bare_spawn", exec, bareSpawn));
      await o.destroySandbox(id);
    }

    let docker: Docker | undefined;
    if (await tryTier(o, "Tier1")) {
      const { default: DockerCtor } = await import("dockerode");
      docker = new DockerCtor({ socketPath: cfg.sandbox.docker.socket_path });
      const cold = await sample(8, () => coldRun(docker!, "runc"));
      const id = await o.createSandbox(config("Tier1"));
      await o.startSandbox(id);
      const exec = await sample(20, async () => void (await o.executeCommand(id, "true", [])));
      metrics.push(...pair("docker_warm_exec_vs_cold_run", exec, cold, "<= 0.25"));
      await o.destroySandbox(id);
      const created: string[] = [];
      const pooled = await sample(
        8,
        async () => {
          const sid = await o.createSandbox(config("Tier1"));
          await o.startSandbox(sid);
          created.push(sid);
        },
        async () => {
          for (const sid of created.splice(0)) await o.destroySandbox(sid as never);
          await o.prepareTier("Tier1"); // the pool refills between samples, outside the timing
        },
      );
      for (const sid of created.splice(0)) await o.destroySandbox(sid as never);
      metrics.push(...pair("docker_pool_create_start_vs_cold_run", pooled, cold, "<= 0.5"));
    }

    if (docker && (await tryTier(o, "Tier2"))) {
      const cold = await sample(5, () => coldRun(docker!, cfg.sandbox.docker.gvisor_runtime));
      const id = await o.createSandbox(config("Tier2"));
      await o.startSandbox(id);
      const exec = await sample(15, async () => void (await o.executeCommand(id, "true", [])));
      metrics.push(...pair("gvisor_warm_exec_vs_cold_run", exec, cold));
      await o.destroySandbox(id);
    }
  } finally {
    await o.shutdown();
    await rm(dataDir, { recursive: true, force: true });
  }
  return metrics;
}
