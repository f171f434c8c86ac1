/**
 * HTTP API throughput and latency: GET /api/v1/health (public) and an authenticated GET /api/v1/agents
 * (10 agents) on the real fastify server, against a bare `node:http` server answering the same JSON, measured
 * in the same run. Load comes from autocannon in a second process so the generator does not share the
 * server's event loop. Both servers get identical requests (the same headers, Authorization included, over the
 * same connections) and are warmed on both paths; the order of the two alternates from round to round, so
 * neither always runs right after the other. Each round is one pair run back to back, and the reported ratio
 * is the median of the rounds' ratios (value and baseline are the medians of each side): this machine's speed
 * drifts by tens of percent within a minute, and a pair shares the drift where one side's best round and the
 * other's need not. Rate limits are raised out of the way; logging is at warn (no access lines), as for the
 * baseline. With two or more CPUs and `taskset`, the servers run on CPU 0 and autocannon on CPU 1: left to
 * the scheduler, the two sometimes share one core, and how often changes from round to round.
 *
 * Run: `npm run bench -- http`
 */
import { execFile, execFileSync } from "node:child_process";
import { createServer, type Server } from "node:http";
import { mkdtempSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { createApiServer } from "../../src/api/server.js";
import { MemoryApiKeyStore } from "../../src/api/keys/index.js";
import { createLogger } from "../../src/core/logger.js";
import { parseAgentConfig } from "../../src/core/schemas.js";
import { createRuntime } from "../../src/runtime.js";
import { percentile, round, type Metric } from "../lib.js";

const DURATION_S = Number(process.env.BENCH_HTTP_DURATION ?? 3);
const ROUNDS = Number(process.env.BENCH_HTTP_ROUNDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_HTTP_CONNECTIONS ?? 20);
const autocannonBin = createRequire(import.meta.url).resolve("autocannon/autocannon.js");

interface Pinning {
  /** Prepended to the load generator's command line. */
  readonly prefix: readonly string[];
  restore(): void;
}

/** Pins this process (every thread: the servers) to CPU 0 and has the load generator run on CPU 1, where it can. */
function pin(): Pinning {
  const none = { prefix: [], restore() {} };
  if (availableParallelism() < 2) {
    console.log("http: not pinned to CPUs (one CPU)");
    return none;
  }
  const pid = String(process.pid);
  let mask: string;
  try {
    mask = /([0-9a-f]+)\s*$/.exec(execFileSync("taskset", ["-p", pid], { encoding: "utf8" }))?.[1] ?? "";
    execFileSync("taskset", ["-a", "-p", "-c", "0", pid], { stdio: "ignore" });
  } catch (err) {
    console.log(`http: not pinned to CPUs (taskset: ${(err as Error).message.split("\n")[0]})`);
    return none;
  }
  console.log("http: servers pinned to CPU 0, autocannon to CPU 1");
  // `npm run bench` runs the other suites in this process afterwards, on every CPU again.
  return { prefix: ["taskset", "-c", "1"], restore: () => void execFileSync("taskset", ["-a", "-p", mask, pid], { stdio: "ignore" }) };
}

interface Load {
  readonly rps: number;
  readonly p99: number;
  readonly non2xx: number;
  readonly errors: number;
}

/** Runs autocannon in a child process against `url` and returns requests/s and p99 latency (ms). */
function load(pinning: Pinning, url: string, headers: Record<string, string> = {}, duration = DURATION_S): Promise<Load> {
  const argv = [...pinning.prefix, process.execPath, autocannonBin, "-j", "-c", String(CONNECTIONS), "-d", String(duration)];
  for (const [k, v] of Object.entries(headers)) argv.push("-H", `${k}=${v}`);
  argv.push(url);
  return new Promise((resolve, reject) => {
    execFile(argv[0] as string, argv.slice(1), { maxBuffer: 16 * 1024 * 1024 }, (err, stdout) => {
      if (err) return reject(err);
      const r = JSON.parse(stdout) as { requests: { average: number }; latency: { p99: number }; non2xx: number; errors: number };
      resolve({ rps: r.requests.average, p99: r.latency.p99, non2xx: r.non2xx, errors: r.errors });
    });
  });
}

function median(values: readonly number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

export async function run(): Promise<Metric[]> {
  const runtime = await createRuntime({
    config: { data_dir: mkdtempSync(join(tmpdir(), "symbiont-bench-http-")), api: { key_store: "memory", rate_limit: { max_per_key: 1e9, max_per_ip: 1e9 } }, lifecycle: { enable_auto_recovery: false } },
    logger: createLogger({ level: "warn", pretty: false }),
  });
  for (let i = 0; i < 10; i++) {
    const a = await runtime.lifecycle.createAgent(parseAgentConfig({ name: `bench-${i}` }));
    await runtime.lifecycle.initializeAgent(a.id);
    await runtime.lifecycle.startAgent(a.id);
  }
  const app = await createApiServer(runtime, { keyStore: new MemoryApiKeyStore() });
  const token = (await app.apiKeys!.create({ name: "bench" })).token;
  const base = await app.listen({ host: "127.0.0.1", port: 0 });
  const auth = { authorization: `Bearer ${token}` };

  // The baseline answers the same bodies the API would, computed per request the same way.
  const agentsBody = async () =>
    JSON.stringify((await runtime.lifecycle.listAgents()).map((a) => ({ id: a.id, name: a.config.name, state: a.state })));
  const bare = createServer((req, res) => {
    const send = (body: string) => {
      res.writeHead(200, { "content-type": "application/json; charset=utf-8" });
      res.end(body);
    };
    if (req.url === "/api/v1/health") {
      const now = Date.now();
      send(JSON.stringify({ status: "healthy", uptime_seconds: Math.floor((now - runtime.startedAt) / 1000), timestamp: new Date(now).toISOString().replace(/\.\d{3}Z$/, "Z"), version: runtime.version }));
    } else if (req.url === "/api/v1/agents") {
      void agentsBody().then(send);
    } else {
      res.writeHead(404).end();
    }
  });
  const bareBase = await listen(bare);

  const pinning = pin();
  try {
    // Warm both servers on both paths (JIT, sockets) before measuring.
    for (const path of ["/api/v1/health", "/api/v1/agents"]) {
      await load(pinning, `${base}${path}`, auth, 1);
      await load(pinning, `${bareBase}${path}`, auth, 1);
    }
    const metrics: Metric[] = [];
    for (const [name, path, headers] of [
      ["health", "/api/v1/health", {}],
      ["agents_authenticated", "/api/v1/agents", auth],
    ] as const) {
      const rounds: { readonly b: Load; readonly o: Load }[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        let b: Load;
        let o: Load;
        if (i % 2 === 0) {
          b = await load(pinning, `${bareBase}${path}`, headers);
          o = await load(pinning, `${base}${path}`, headers);
        } else {
          o = await load(pinning, `${base}${path}`, headers);
          b = await load(pinning, `${bareBase}${path}`, headers);
        }
        if (o.non2xx || o.errors) throw new Error(`${name}: ${o.non2xx} non-2xx answers and ${o.errors} errors under load`);
        rounds.push({ b, o });
      }
      const ratios = rounds.map((r) => r.o.rps / r.b.rps);
      metrics.push({
        name: `${name}_rps`,
        value: round(median(rounds.map((r) => r.o.rps)), 0),
        unit: "req/s",
        baseline: round(median(rounds.map((r) => r.b.rps)), 0),
        ratio: round(median(ratios), 2),
        target: ">= 0.7",
      });
      metrics.push({ name: `${name}_p99`, value: median(rounds.map((r) => r.o.p99)), unit: "ms", baseline: median(rounds.map((r) => r.b.p99)) });
      console.log(`${name}: per-round ratios ${ratios.map((r) => round(r, 2)).join(" ")}`);
    }
    return metrics;
  } finally {
    pinning.restore();
    await app.close();
    await new Promise((r) => bare.close(r));
    await runtime.shutdown();
  }
}
