import { chmod, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SystemClock } from "../../src/core/clock.js";
import { resolveConfig } from "../../src/core/config/index.js";
import { RuntimeEvents } from "../../src/core/events.js";
import { AgentId } from "../../src/core/ids.js";
import { silentLogger } from "../../src/core/logger.js";
import { createSandboxOrchestrator } from "../../src/sandbox/index.js";
const dataDir = await mkdtemp(join(tmpdir(), "probe-")); await chmod(dataDir, 0o711);
const config = resolveConfig({ data_dir: dataDir, sandbox: { prepare_tiers: ["Tier3"], microvm: { pool_memory_mb: [64] } } });
const clock = new SystemClock(); const logger = silentLogger();
const o = await createSandboxOrchestrator({ config: config.sandbox, dataDir, clock, logger, events: new RuntimeEvents(clock, logger), authorizer: { check: async () => ({ allowed: true }) } });
const cfg = { agent_id: AgentId.new(), security_tier: "Tier3" as const, resource_limits: { memory_mb: 64, cpu_cores: 1, disk_io_mbps: 100, network_io_mbps: 10, execution_timeout: 30_000, idle_timeout: 60_000 }, network_config: { enabled: false }, filesystem_config: { mounts: [] }, environment_variables: {} };
let t = performance.now();
const id = await o.createSandbox(cfg); console.log("create", performance.now() - t); t = performance.now();
await o.startSandbox(id); console.log("start", performance.now() - t); t = performance.now();
await o.executeCommand(id, "true", []); console.log("first", performance.now() - t);
for (const s of process.argv.slice(2)) { t = performance.now(); const r = await o.executeCommand(id, "sh", ["-c", s]); console.log("%s", JSON.stringify(s), (performance.now() - t).toFixed(1), r.stdout.trim(), r.stderr.trim()); }
for (let i = 0; i < 5; i++) { t = performance.now(); await o.executeCommand(id, "echo", ["x"]); console.log("rt", (performance.now() - t).toFixed(1)); }
await o.destroySandbox(id); await o.shutdown();
