/**
 * Lifecycle controller costs: create+initialize+start of 10,000 agents, 1,000,000 state transitions, and
 * the RSS of 100,000 idle agents. Each is compared with a floor measured in the same run: the same number of
 * Map writes and awaited async calls with no lifecycle logic.
 *
 * Run: `npm run bench -- lifecycle`
 */
import { SystemClock } from "../../src/core/clock.js";
import { resolveConfig } from "../../src/core/config/index.js";
import { RuntimeEvents } from "../../src/core/events.js";
import { AgentId } from "../../src/core/ids.js";
import { silentLogger } from "../../src/core/logger.js";
import { parseAgentConfig } from "../../src/core/schemas.js";
import { DefaultLifecycleController } from "../../src/lifecycle/controller.js";
import { round, rssMb, timeMs, type Metric } from "../lib.js";

function makeController(maxAgents: number): DefaultLifecycleController {
  const logger = silentLogger();
  const clock = new SystemClock();
  const config = resolveConfig({ lifecycle: { max_agents: maxAgents, enable_auto_recovery: false } }).lifecycle;
  return new DefaultLifecycleController({ config, clock, events: new RuntimeEvents(clock, logger), logger });
}

async function floorCreateStart(n: number): Promise<number> {
  const map = new Map<string, { state: string }>();
  const step = async (id: string, state: string) => {
    const rec = map.get(id);
    if (rec) rec.state = state;
  };
  return timeMs(async () => {
    for (let i = 0; i < n; i++) {
      const id = AgentId.new();
      map.set(id, { state: "Created" });
      await step(id, "Ready");
      await step(id, "Running");
    }
  });
}

export async function run(): Promise<Metric[]> {
  const metrics: Metric[] = [];
  const config = parseAgentConfig({ name: "bench" });

  // 10k create + initialize + start
  const N = 10_000;
  const floor = await floorCreateStart(N);
  const ctl = makeController(N);
  const createMs = await timeMs(async () => {
    for (let i = 0; i < N; i++) {
      const { id } = await ctl.createAgent({ ...config, id: AgentId.new() });
      await ctl.initializeAgent(id);
      await ctl.startAgent(id);
    }
  });
  metrics.push({ name: "create_init_start_10k", value: round(createMs, 1), unit: "ms", target: "< 1000" });
  metrics.push({
    name: "create_init_start_10k_vs_floor",
    value: round(createMs, 1),
    unit: "ms",
    baseline: round(floor, 1),
    ratio: round(createMs / floor, 2),
  });

  // 1M transitions on 1,000 agents (suspend/resume pairs)
  const agents = (await ctl.listAgents()).slice(0, 1_000).map((a) => a.id);
  const T = 1_000_000;
  const transMs = await timeMs(async () => {
    for (let i = 0; i < T / 2; i++) {
      const id = agents[i % agents.length] as AgentId;
      await ctl.suspendAgent(id);
      await ctl.resumeAgent(id);
    }
  });
  const floorTrans = await timeMs(async () => {
    const flip = async (o: { s: number }) => {
      o.s ^= 1;
    };
    const o = { s: 0 };
    for (let i = 0; i < T; i++) await flip(o);
  });
  const perTransUs = (transMs * 1000) / T;
  metrics.push({ name: "transition", value: round(perTransUs, 3), unit: "us", target: "< 5" });
  metrics.push({
    name: "transition_vs_floor",
    value: round(perTransUs, 3),
    unit: "us",
    baseline: round((floorTrans * 1000) / T, 3),
    ratio: round(transMs / floorTrans, 2),
  });
  await ctl.shutdown();

  // 100k idle agents
  global.gc?.();
  const before = rssMb();
  const idle = makeController(100_000);
  for (let i = 0; i < 100_000; i++) await idle.createAgent({ ...config, id: AgentId.new() });
  global.gc?.();
  const after = rssMb();
  metrics.push({ name: "idle_agents_100k_rss", value: round(after, 1), unit: "MB", target: "< 500" });
  metrics.push({
    name: "idle_agents_100k_rss_vs_empty",
    value: round(after, 1),
    unit: "MB",
    baseline: round(before, 1),
    ratio: round(after / before, 2),
  });
  return metrics;
}
