import { SystemClock } from "../src/core/clock.js";
import { resolveConfig } from "../src/core/config/index.js";
import { RuntimeEvents } from "../src/core/events.js";
import { AgentId } from "../src/core/ids.js";
import { silentLogger } from "../src/core/logger.js";
import { DefaultScheduler } from "../src/scheduler/index.js";
const N = 10000; const agent = AgentId.new();
function mk() { const clock = new SystemClock(); const logger = silentLogger(); return new DefaultScheduler({ config: resolveConfig({ scheduler: { task_queue_size: N } }).scheduler, clock, events: new RuntimeEvents(clock, logger), logger, runner: { readiness: () => "ready", run: async () => null } }); }
for (let r = 0; r < 30; r++) {
  const s = mk(); await s.pauseScheduling();
  const t = performance.now();
  for (let i = 0; i < N; i++) await s.scheduleTask({ agent_id: agent });
  const ms = performance.now() - t;
  if (r % 5 === 4) console.log("enqueue 10k", ms.toFixed(2));
  await s.shutdown();
}
