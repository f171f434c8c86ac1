/**
 * Agent DSL costs: parse throughput of the corpus (MB/s), and the interpreter on a loop-heavy body against
 * the same logic written in plain JavaScript, measured in the same run (ratio = interpreter time / JS time;
 * target within 50x; CPU time too, as wall time is load-sensitive). Also the cost of one run through a pooled
 * worker thread against a thread started for the run (the pool's gain).
 *
 * Run: `npm run bench -- dsl`
 */
import { BuiltinAuthorizer } from "../../src/core/authorizer.js";
import { SystemClock } from "../../src/core/clock.js";
import { RuntimeEvents } from "../../src/core/events.js";
import { silentLogger } from "../../src/core/logger.js";
import { compileDsl, createDslHost, DslWorkerPool, parse, runDslAgent } from "../../src/dsl/index.js";
import { corpusFiles, runBody } from "../../src/dsl/test-helpers.js";
import { round, timeMs, type Metric } from "../lib.js";

const BODY = `
let total = 0;
let buckets = { even: 0, odd: 0 };
for a in xs {
    for b in xs {
        let v = (a * 31 + b) % 97;
        if v % 2 == 0 {
            buckets.even += 1;
        } else {
            buckets.odd += 1;
        }
        total += v;
    }
}
[total, buckets.even, buckets.odd]`;

function plainJs(xs: number[]): [number, number, number] {
  let total = 0;
  const buckets = { even: 0, odd: 0 };
  for (const a of xs) {
    for (const b of xs) {
      const v = (a * 31 + b) % 97;
      if (v % 2 === 0) buckets.even += 1;
      else buckets.odd += 1;
      total += v;
    }
  }
  return [total, buckets.even, buckets.odd];
}

function cpuMs(u: NodeJS.CpuUsage): number {
  return (u.user + u.system) / 1000;
}

export async function run(): Promise<Metric[]> {
  const metrics: Metric[] = [];

  // Parse throughput over the corpus, repeated to a few MB.
  const sources = corpusFiles("valid").map((f) => f.source);
  const bytes = sources.reduce((n, s) => n + Buffer.byteLength(s), 0);
  const rounds = Math.ceil((4 * 1024 * 1024) / bytes);
  for (const s of sources) parse(s);
  const parseMs = await timeMs(() => {
    for (let r = 0; r < rounds; r++) for (const s of sources) parse(s);
  });
  metrics.push({ name: "parse_throughput", value: round((bytes * rounds) / 1024 / 1024 / (parseMs / 1000), 2), unit: "MB/s" });

  // Interpreter vs plain JS on the same loop (in-process, so only evaluation is compared).
  const xs = Array.from({ length: 400 }, (_, i) => i);
  const expected = plainJs(xs);
  const check = runBody(BODY, { xs }, undefined, "", { maxSteps: 1e9, maxDepth: 100 }).value;
  if (JSON.stringify(check) !== JSON.stringify(expected)) throw new Error(`interpreter and JS disagree: ${JSON.stringify(check)} vs ${JSON.stringify(expected)}`);
  let sink = 0;
  const loops = 20;
  // Warm both up first, so the comparison is between optimized code.
  for (let i = 0; i < 3; i++) sink += plainJs(xs)[0] + ((runBody(BODY, { xs }, undefined, "", { maxSteps: 1e9, maxDepth: 100 }).value as number[])[0] as number);
  let cpu = process.cpuUsage();
  const jsMs = await timeMs(() => {
    for (let i = 0; i < loops; i++) sink += plainJs(xs)[0];
  });
  const jsCpu = cpuMs(process.cpuUsage(cpu));
  cpu = process.cpuUsage();
  const dslMs = await timeMs(() => {
    for (let i = 0; i < loops; i++) sink += (runBody(BODY, { xs }, undefined, "", { maxSteps: 1e9, maxDepth: 100 }).value as number[])[0] as number;
  });
  const dslCpu = cpuMs(process.cpuUsage(cpu));
  if (sink === 0) throw new Error("unreachable");
  const iterations = loops * xs.length * xs.length;
  metrics.push({
    name: "interpreter_loop_vs_plain_js",
    value: round((dslMs * 1e6) / iterations, 1),
    unit: "ns/iteration",
    baseline: round((jsMs * 1e6) / iterations, 1),
    ratio: round(dslMs / jsMs, 1),
    target: "<= 50",
  });
  metrics.push({
    name: "interpreter_loop_vs_plain_js_cpu",
    value: round((dslCpu * 1e6) / iterations, 1),
    unit: "ns/iteration (CPU)",
    baseline: round((jsCpu * 1e6) / iterations, 1),
    ratio: round(dslCpu / jsCpu, 1),
    target: "<= 50",
  });

  // One run of a small body: on a pooled (reused) thread against a thread started for the run.
  const clock = new SystemClock();
  const logger = silentLogger();
  const host = createDslHost({ logger, clock, events: new RuntimeEvents(clock, logger), authorizer: new BuiltinAuthorizer() });
  const file = compileDsl('agent a(n: int) {\n with { n + 1 }\n}\n');
  const limits = { maxSteps: 1e6, maxDepth: 100, maxMemoryMb: 64, timeoutMs: 30_000 };
  const pool = new DslWorkerPool({ maxWorkers: 2 });
  try {
    await runDslAgent({ file, input: { n: 1 }, host, limits, pool });
    const N = 20;
    const fresh = await timeMs(async () => {
      for (let i = 0; i < N; i++) await runDslAgent({ file, input: { n: i }, host, limits });
    });
    const pooled = await timeMs(async () => {
      for (let i = 0; i < N; i++) await runDslAgent({ file, input: { n: i }, host, limits, pool });
    });
    metrics.push({ name: "worker_run_small_body_pooled", value: round(pooled / N, 2), unit: "ms", baseline: round(fresh / N, 1), ratio: round(pooled / fresh, 3) });
  } finally {
    await pool.close();
  }
  return metrics;
}
