import { chmod, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SystemClock } from "../../src/core/clock.js";
import { resolveConfig } from "../../src/core/config/index.js";
import { RuntimeEvents } from "../../src/core/events.js";
import { AgentId } from "../../src/core/ids.js";
import { silentLogger } from "../../src/core/logger.js";
import { createSandboxOrchestrator } from "../../src/sandbox/index.js";
const G = globalThis as unknown as { __rt: number[]; __ad: number[] };
G.__rt = []; G.__ad = [];
const dataDir = await mkdtemp(join(tmpdir(), "probe-")); await chmod(dataDir, 0o711);
const config = resolveConfig({ data_dir: dataDir, sandbox: { prepare_tiers: ["Tier3"], microvm: { pool_memory_mb: [64] } } });
const clock = new SystemClock(); const logger = silentLogger();
const o = await createSandboxOrchestrator({ config: config.sandbox, dataDir, clock, logger, events: new RuntimeEvents(clock, logger), authorizer: { check: async () => ({ allowed: true }) } });
const cfg = { agent_id: AgentId.new(), security_tier: "Tier3" as const, resource_limits: { memory_mb: 64, cpu_cores: 1, disk_io_mbps: 100, network_io_mbps: 10, execution_timeout: 30_000, idle_timeout: 60_000 }, network_config: { enabled: false }, filesystem_config: { mounts: [] }, environment_variables: {} };
for (let k = 0; k < 3; k++) {
  await o.prepareTier("Tier3");
  let t = performance.now();
  const id = await o.createSandbox(cfg); const c = performance.now() - t;
  await o.startSandbox(id);
  const t1 = performance.now();
  await o.executeCommand(id, "true", []); const f = performance.now() - t1;
  console.log("create", c.toFixed(0), "adopt", G.__ad.map((x) => x.toFixed(0)).join(","), "first", f.toFixed(0), "guest", G.__rt.map((x) => x.toFixed(0)).join(","));
  G.__ad = []; G.__rt = [];
  const walls: number[] = [];
  for (let i = 0; i < 10; i++) { t = performance.now(); await o.executeCommand(id, "echo", ["x"]); walls.push(performance.now() - t); }
  console.log("rt wall", walls.map((x) => x.toFixed(0)).join(","), "\n   guest", G.__rt.map((x) => x.toFixed(0)).join(","));
  G.__rt = [];
  await o.destroySandbox(id);
}
await o.shutdown();
