/**
 * Admission control: what the machine offers (totals less the reservation), what allocations hold, and
 * what a request lacks, per resource.
 */
import type { ResourceLimits } from "../core/types.js";
import { MIB, NET_MBPS } from "./measure.js";
import type { ResourceAmounts } from "./types.js";

/** Allocations carry no disk quota; the disk only gates admission through its reservation. */
export type Held = Omit<ResourceAmounts, "disk_space">;

/** Floating-point sums of cpu shares drift; a request within this of the capacity fits. */
const EPSILON = 1e-9;

export function demandOf(limits: ResourceLimits): Held {
  return { memory: limits.memory_mb * MIB, cpu_cores: limits.cpu_cores, network_bandwidth: limits.network_io_mbps * NET_MBPS };
}

export function reservedOf(totals: ResourceAmounts, percentage: number): ResourceAmounts {
  const f = percentage / 100;
  return {
    memory: Math.floor(totals.memory * f),
    cpu_cores: totals.cpu_cores * f,
    network_bandwidth: Math.floor(totals.network_bandwidth * f),
    disk_space: Math.floor(totals.disk_space * f),
  };
}

/** Running sums of every allocation's demand. */
export class Ledger {
  memory = 0;
  cpu_cores = 0;
  network_bandwidth = 0;

  add(d: Held, sign: 1 | -1): void {
    this.memory += sign * d.memory;
    this.cpu_cores += sign * d.cpu_cores;
    this.network_bandwidth += sign * d.network_bandwidth;
    if (Math.abs(this.cpu_cores) < EPSILON) this.cpu_cores = 0;
  }

  held(): Held {
    return { memory: this.memory, cpu_cores: this.cpu_cores, network_bandwidth: this.network_bandwidth };
  }
}

/**
 * What `request` lacks, per resource, given capacity (totals less reservation) and what others hold
 * (`held` minus `replacing`, the requester's current demand on an update); empty when it fits. Disk: the
 * data dir's free space must not have fallen into the reservation.
 */
export function shortfallOf(
  capacity: ResourceAmounts,
  held: Held,
  request: Held,
  replacing: Held | undefined,
  diskAvailable: number,
  diskReserved: number,
): Partial<Record<keyof ResourceAmounts, number>> {
  const out: Partial<Record<keyof ResourceAmounts, number>> = {};
  for (const k of ["memory", "cpu_cores", "network_bandwidth"] as const) {
    const others = held[k] - (replacing?.[k] ?? 0);
    const lack = others + request[k] - capacity[k];
    if (lack > EPSILON) out[k] = k === "cpu_cores" ? Math.round(lack * 1000) / 1000 : Math.ceil(lack);
  }
  if (diskAvailable < diskReserved) out.disk_space = diskReserved - diskAvailable;
  return out;
}
