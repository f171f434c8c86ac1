/**
 * The API's measurements, all from real counters: a prom-client registry (process defaults, HTTP requests
 * and durations, agents by state, runtime events by type) for `/metrics`, and the spec's JSON metrics
 * (agents, host memory and CPU, messages per second, average response time over the last minute).
 */
import { cpus, freemem, totalmem } from "node:os";
import { collectDefaultMetrics, Counter, Gauge, Registry } from "prom-client";
import type { Runtime } from "../runtime.js";
import { AGENT_STATES } from "../core/types.js";

const WINDOW_MS = 60_000;
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

/** The spec's `GET /api/v1/metrics` body. */
export interface MetricsResponse {
  readonly agents: { readonly total: number; readonly running: number; readonly stopped: number };
  readonly system: { readonly memory_usage: number; readonly cpu_usage: number; readonly uptime_seconds: number };
  readonly performance: { readonly messages_per_second: number; readonly avg_response_time_ms: number };
}

/** Counts events in one-second buckets over the last minute. */
class WindowCounter {
  readonly #buckets = new Map<number, { n: number; sum: number }>();
  add(nowMs: number, value = 0): void {
    const sec = Math.floor(nowMs / 1000);
    const b = this.#buckets.get(sec);
    if (b) {
      b.n++;
      b.sum += value;
    } else {
      this.#buckets.set(sec, { n: 1, sum: value });
      for (const k of this.#buckets.keys()) if (k <= sec - WINDOW_MS / 1000) this.#buckets.delete(k);
    }
  }
  totals(nowMs: number): { n: number; sum: number } {
    const from = Math.floor(nowMs / 1000) - WINDOW_MS / 1000;
    let n = 0;
    let sum = 0;
    for (const [k, b] of this.#buckets) {
      if (k <= from) continue;
      n += b.n;
      sum += b.sum;
    }
    return { n, sum };
  }
}

/** One method and route's answers: counts by status and a duration histogram (per-bucket, not cumulative). */
class RouteStats {
  readonly statuses = new Map<number, number>();
  readonly buckets = new Float64Array(DURATION_BUCKETS.length);
  count = 0;
  sum = 0;
}

interface ExportedValue {
  readonly labels: Record<string, string | number>;
  readonly value: number;
  readonly metricName: string;
}

/**
 * Request counts and durations kept in plain numbers and handed to prom-client only at scrape time: labels()
 * and observe() hash their labels on every call, which cost a small request more than answering it. The
 * exposition is the one prom-client's Counter and Histogram would write.
 */
class HttpStats {
  readonly #byMethod = new Map<string, Map<string, RouteStats>>();

  observe(method: string, route: string, status: number, seconds: number): void {
    let byRoute = this.#byMethod.get(method);
    if (!byRoute) this.#byMethod.set(method, (byRoute = new Map()));
    let s = byRoute.get(route);
    if (!s) byRoute.set(route, (s = new RouteStats()));
    s.statuses.set(status, (s.statuses.get(status) ?? 0) + 1);
    s.count++;
    s.sum += seconds;
    for (let i = 0; i < DURATION_BUCKETS.length; i++) {
      if (seconds <= (DURATION_BUCKETS[i] as number)) {
        (s.buckets[i] as number)++;
        break;
      }
    }
  }

  *entries(): Generator<[string, string, RouteStats]> {
    for (const [method, byRoute] of this.#byMethod) for (const [route, s] of byRoute) yield [method, route, s];
  }

  reset(): void {
    this.#byMethod.clear();
  }
}

/** prom-client's registry accepts any object of this shape; it writes the histogram as `Histogram` would. */
class DurationHistogram {
  readonly name = "symbiont_http_request_duration_seconds";
  readonly help = "HTTP request duration";
  readonly type = "histogram";
  readonly aggregator = "sum";
  readonly #stats: HttpStats;

  constructor(stats: HttpStats) {
    this.#stats = stats;
  }

  get(): { name: string; help: string; type: string; aggregator: string; values: ExportedValue[] } {
    const values: ExportedValue[] = [];
    for (const [method, route, s] of this.#stats.entries()) {
      let acc = 0;
      for (let i = 0; i < DURATION_BUCKETS.length; i++) {
        acc += s.buckets[i] as number;
        values.push({ labels: { le: DURATION_BUCKETS[i] as number, method, route }, value: acc, metricName: `${this.name}_bucket` });
      }
      values.push({ labels: { le: "+Inf", method, route }, value: s.count, metricName: `${this.name}_bucket` });
      values.push({ labels: { method, route }, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { method, route }, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.#stats.reset();
  }
}

function cpuTimes(): { idle: number; total: number } {
  let idle = 0;
  let total = 0;
  for (const c of cpus()) {
    idle += c.times.idle;
    total += c.times.idle + c.times.user + c.times.nice + c.times.sys + c.times.irq;
  }
  return { idle, total };
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

export class ApiMetrics {
  readonly registry = new Registry();
  readonly #runtime: Runtime;
  readonly #http = new HttpStats();
  readonly #messages = new WindowCounter();
  readonly #responses = new WindowCounter();
  readonly #unsubscribe: () => void;
  #cpuPrev = cpuTimes();
  #cpuUsage = 0;

  constructor(runtime: Runtime) {
    this.#runtime = runtime;
    collectDefaultMetrics({ register: this.registry, prefix: "symbiont_" });
    const http = this.#http;
    new Counter({
      name: "symbiont_http_requests_total",
      help: "HTTP requests answered, by method, route and status",
      labelNames: ["method", "route", "status"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [method, route, s] of http.entries()) for (const [status, n] of s.statuses) this.inc({ method, route, status: String(status) }, n);
      },
    });
    this.registry.registerMetric(new DurationHistogram(http) as unknown as Parameters<Registry["registerMetric"]>[0]);
    const events = new Counter({ name: "symbiont_events_total", help: "Runtime events, by type", labelNames: ["type"], registers: [this.registry] });
    const lifecycle = runtime.lifecycle;
    new Gauge({
      name: "symbiont_agents",
      help: "Live agents, by state",
      labelNames: ["state"],
      registers: [this.registry],
      async collect() {
        const s = await lifecycle.getSystemStatus();
        for (const st of AGENT_STATES) this.set({ state: st }, s.agents_by_state[st]);
      },
    });
    this.#unsubscribe = runtime.events.onAny((e) => {
      events.inc({ type: e.type });
      if (e.type === ("message.sent" as string)) this.#messages.add(e.at);
    });
  }

  /** Records one answered request. */
  observe(method: string, route: string, status: number, seconds: number): void {
    this.#http.observe(method, route, status, seconds);
    this.#responses.add(Date.now(), seconds * 1000);
  }

  async json(): Promise<MetricsResponse> {
    const status = await this.#runtime.lifecycle.getSystemStatus();
    const running = status.agents_by_state.Running + status.agents_by_state.Waiting;
    const now = Date.now();
    const responses = this.#responses.totals(now);
    const cur = cpuTimes();
    const dt = cur.total - this.#cpuPrev.total;
    // Sample at most every 250 ms so frequent polls do not measure noise.
    if (dt >= 250 * cpus().length) {
      this.#cpuUsage = 100 * (1 - (cur.idle - this.#cpuPrev.idle) / dt);
      this.#cpuPrev = cur;
    }
    return {
      agents: { total: status.total_agents, running, stopped: status.total_agents - running },
      system: {
        memory_usage: round1((100 * (totalmem() - freemem())) / totalmem()),
        cpu_usage: round1(this.#cpuUsage),
        uptime_seconds: Math.floor((this.#runtime.clock.now() - this.#runtime.startedAt) / 1000),
      },
      performance: {
        messages_per_second: round1(this.#messages.totals(this.#runtime.clock.now()).n / (WINDOW_MS / 1000)),
        avg_response_time_ms: responses.n ? round1(responses.sum / responses.n) : 0,
      },
    };
  }

  close(): void {
    this.#unsubscribe();
  }
}
