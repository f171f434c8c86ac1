/**
 * Turning sandbox readings into an agent's usage: sums over the agent's sandboxes, and rates (cpu cores,
 * io bytes/s) from the change of cumulative counters over a measured window.
 */
import type { SandboxId } from "../core/ids.js";
import type { ResourceLimits } from "../core/types.js";
import type { SandboxStatus, SandboxUsage } from "../sandbox/types.js";
import type { MeasuredResourceUsage, ResourceKind } from "./types.js";

export const MIB = 1024 * 1024;
/** `disk_io_mbps` is MB/s. */
export const DISK_MBPS = 1_000_000;
/** `network_io_mbps` is Mbit/s. */
export const NET_MBPS = 125_000;

/** A limit in the unit its usage is measured in (bytes, cores, bytes/s). */
export function limitOf(limits: ResourceLimits, kind: ResourceKind): number {
  switch (kind) {
    case "memory":
      return limits.memory_mb * MIB;
    case "cpu":
      return limits.cpu_cores;
    case "disk_io":
      return limits.disk_io_mbps * DISK_MBPS;
    case "network_io":
      return limits.network_io_mbps * NET_MBPS;
  }
}

export function usageOf(u: MeasuredResourceUsage, kind: ResourceKind): number {
  switch (kind) {
    case "memory":
      return u.memory_used;
    case "cpu":
      return u.cpu_usage;
    case "disk_io":
      return u.disk_io_rate;
    case "network_io":
      return u.network_io_rate;
  }
}

export function unitOf(kind: ResourceKind): "bytes" | "cores" | "bytes/s" {
  return kind === "memory" ? "bytes" : kind === "cpu" ? "cores" : "bytes/s";
}

/** Cumulative counters of one agent's sandboxes at one moment. */
export interface Totals {
  /** Identifies the set of sandboxes: counters of different sets cannot be subtracted. */
  readonly key: string;
  readonly sandbox_ids: readonly SandboxId[];
  readonly memory_bytes: number;
  readonly pids: number;
  readonly cpu_time_ms: number;
  readonly io_bytes: number | undefined;
  readonly net_bytes: number | undefined;
  /** Epoch ms of the earliest start (or creation) among the sandboxes. */
  readonly since: number;
}

export function sumReadings(statuses: readonly SandboxStatus[], readings: readonly SandboxUsage[]): Totals {
  let memory = 0;
  let pids = 0;
  let cpu = 0;
  let io: number | undefined = 0;
  let net: number | undefined = 0;
  let since = Number.POSITIVE_INFINITY;
  for (const r of readings) {
    memory += r.memory_bytes;
    pids += r.pids;
    cpu += r.cpu_time_ms;
    io = io === undefined || r.io_read_bytes === undefined ? undefined : io + r.io_read_bytes + (r.io_write_bytes ?? 0);
    net = net === undefined || r.net_rx_bytes === undefined ? undefined : net + r.net_rx_bytes + (r.net_tx_bytes ?? 0);
  }
  for (const s of statuses) since = Math.min(since, s.started_at ?? s.created_at);
  const ids = statuses.map((s) => s.id);
  return {
    key: ids.join(","),
    sandbox_ids: ids,
    memory_bytes: memory,
    pids,
    cpu_time_ms: cpu,
    io_bytes: readings.length ? io : undefined,
    net_bytes: readings.length ? net : undefined,
    since: Number.isFinite(since) ? since : 0,
  };
}

interface Rates {
  readonly cpu: number;
  readonly io: number;
  readonly net: number;
}

/**
 * Rates of one agent from successive readings. A reading closer than `window` ms to the previous one reuses
 * the last rates rather than dividing by a tiny interval; a new set of sandboxes starts over.
 */
export class RateMeter {
  #prev: { key: string; at: number; cpu: number; io: number | undefined; net: number | undefined } | undefined;
  #rates: Rates | undefined;

  constructor(private readonly window: number) {}

  /** Rates for this reading at monotonic time `at`, or undefined when there is no earlier reading to compare. */
  update(t: Totals, at: number): Rates | undefined {
    const p = this.#prev;
    if (!p || p.key !== t.key) {
      this.#prev = { key: t.key, at, cpu: t.cpu_time_ms, io: t.io_bytes, net: t.net_bytes };
      this.#rates = undefined;
      return undefined;
    }
    const dt = at - p.at;
    if (dt < this.window && this.#rates) return this.#rates;
    if (dt <= 0) return undefined;
    const perSecond = (now: number | undefined, before: number | undefined) =>
      now === undefined || before === undefined ? 0 : Math.max(0, ((now - before) * 1000) / dt);
    this.#rates = {
      cpu: Math.max(0, (t.cpu_time_ms - p.cpu) / dt),
      io: perSecond(t.io_bytes, p.io),
      net: perSecond(t.net_bytes, p.net),
    };
    this.#prev = { key: t.key, at, cpu: t.cpu_time_ms, io: t.io_bytes, net: t.net_bytes };
    return this.#rates;
  }
}

/** The usage of an agent with no sandbox: zeros, marked unmeasured. */
export function noSandboxUsage(now: number): MeasuredResourceUsage {
  return {
    memory_used: 0,
    cpu_usage: 0,
    disk_io_rate: 0,
    network_io_rate: 0,
    uptime: 0,
    measured: false,
    unmeasured: ["memory", "cpu", "disk_io", "network_io"],
    sandbox_ids: [],
    pids: 0,
    measured_at: now,
  };
}

export function toUsage(t: Totals, rates: Rates, now: number): MeasuredResourceUsage {
  const unmeasured: ResourceKind[] = [];
  if (t.io_bytes === undefined) unmeasured.push("disk_io");
  if (t.net_bytes === undefined) unmeasured.push("network_io");
  return {
    memory_used: t.memory_bytes,
    cpu_usage: rates.cpu,
    disk_io_rate: rates.io,
    network_io_rate: rates.net,
    uptime: t.since ? Math.max(0, now - t.since) : 0,
    measured: true,
    unmeasured,
    sandbox_ids: t.sandbox_ids,
    pids: t.pids,
    measured_at: now,
  };
}
