/**
 * One restart for the store bench: starts the runtime on the data dir in argv[2] (max_agents argv[3]) and
 * prints `{ms, restored}`, ms being the time createRuntime took to return a ready runtime.
 */
import { silentLogger } from "../../src/core/logger.js";
import { createRuntime } from "../../src/runtime.js";

const [dataDir, maxAgents] = process.argv.slice(2);
const t0 = performance.now();
const runtime = await createRuntime({
  config: { data_dir: dataDir as string, log_level: "silent", lifecycle: { max_agents: Number(maxAgents) } },
  logger: silentLogger(),
});
const ms = performance.now() - t0;
const restored = runtime.recovery.agents.restored;
await runtime.shutdown();
process.stdout.write(JSON.stringify({ ms, restored }));
