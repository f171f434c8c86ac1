/**
 * A cgroup per sandbox for memory, pids and cpu quota, on either layout a Linux host may have: v1 (one
 * hierarchy per controller under /sys/fs/cgroup/<controller>, what these build machines have) or v2 (one
 * unified hierarchy, what most hosts have). The layout is detected once at start-up. Sandboxes of one
 * runtime instance live under `<parent>/rt-<pid>-<nonce>/`, so a later instance can tell a dead
 * instance's leftovers (its pid is gone) from a live neighbour's and remove only those.
 */
import { randomBytes } from "node:crypto";
import { existsSync, realpathSync } from "node:fs";
import { readdir, readFile, rmdir, writeFile, mkdir } from "node:fs/promises";
import { join } from "node:path";

const ROOT = "/sys/fs/cgroup";
/** The quota period written with every cpu limit, µs. */
const CPU_PERIOD_US = 100_000;

export interface CgroupLimits {
  readonly memory_bytes: number;
  readonly cpu_cores: number;
  readonly pids: number;
}

export interface CgroupReading {
  readonly memory_bytes: number;
  readonly memory_limit_bytes: number;
  readonly cpu_time_ms: number;
  readonly pids: number;
  readonly oom_kills: number;
}

/** The host's cgroup layout: where each controller's hierarchy is, or that the host has none usable. */
export type CgroupLayout =
  | { readonly version: 1; readonly memory: string; readonly pids: string; readonly cpu: string; readonly cpuacct: string }
  | { readonly version: 2; readonly root: string };

/** Finds the layout, or returns why cgroups cannot be used (a missing controller, no cgroupfs). */
export function detectCgroupLayout(root = ROOT): CgroupLayout | string {
  const v2Controllers = join(root, "cgroup.controllers");
  if (existsSync(v2Controllers)) return { version: 2, root };
  const dirs: Record<string, string> = {};
  for (const c of ["memory", "pids", "cpu", "cpuacct"]) {
    const dir = join(root, c);
    if (!existsSync(join(dir, "cgroup.procs"))) return `cgroup v1 controller "${c}" is not mounted at ${dir}`;
    dirs[c] = realpathSync(dir);
  }
  return { version: 1, memory: dirs.memory!, pids: dirs.pids!, cpu: dirs.cpu!, cpuacct: dirs.cpuacct! };
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function readNumber(path: string): Promise<number> {
  const text = (await readFile(path, "utf8")).trim();
  return text === "max" ? Number.POSITIVE_INFINITY : Number(text);
}

async function readKeyed(path: string, key: string): Promise<number> {
  const text = await readFile(path, "utf8").catch(() => "");
  for (const line of text.split("\n")) {
    const [k, v] = line.trim().split(/\s+/);
    if (k === key) return Number(v);
  }
  return 0;
}

async function readPids(procsFile: string): Promise<number[]> {
  const text = await readFile(procsFile, "utf8").catch(() => "");
  return text
    .split("\n")
    .filter(Boolean)
    .map(Number);
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** One sandbox's cgroup (one directory per v1 hierarchy, or one v2 directory). */
export class SandboxCgroup {
  constructor(
    private readonly layout: CgroupLayout,
    /** The directories of this cgroup, one per distinct hierarchy. */
    readonly dirs: readonly string[],
  ) {}

  /** Files a process writes its pid into to join every hierarchy of this cgroup. */
  procsFiles(): string[] {
    return this.dirs.map((d) => join(d, "cgroup.procs"));
  }

  #dir(controller: "memory" | "pids" | "cpu" | "cpuacct"): string {
    if (this.layout.version === 2) return this.dirs[0]!;
    const base = this.layout[controller];
    return this.dirs.find((d) => d.startsWith(`${base}/`))!;
  }

  async applyLimits(limits: CgroupLimits): Promise<void> {
    const mem = String(Math.floor(limits.memory_bytes));
    const quota = Math.max(1000, Math.round(limits.cpu_cores * CPU_PERIOD_US));
    if (this.layout.version === 2) {
      const d = this.dirs[0]!;
      await writeFile(join(d, "memory.max"), mem);
      // No swap: an overrun is an OOM kill, not a slow crawl through swap.
      if (existsSync(join(d, "memory.swap.max"))) await writeFile(join(d, "memory.swap.max"), "0");
      await writeFile(join(d, "pids.max"), String(limits.pids));
      await writeFile(join(d, "cpu.max"), `${quota} ${CPU_PERIOD_US}`);
      return;
    }
    const m = this.#dir("memory");
    await writeFile(join(m, "memory.limit_in_bytes"), mem);
    if (existsSync(join(m, "memory.memsw.limit_in_bytes"))) await writeFile(join(m, "memory.memsw.limit_in_bytes"), mem);
    await writeFile(join(m, "memory.swappiness"), "0").catch(() => undefined);
    await writeFile(join(this.#dir("pids"), "pids.max"), String(limits.pids));
    const c = this.#dir("cpu");
    await writeFile(join(c, "cpu.cfs_period_us"), String(CPU_PERIOD_US));
    await writeFile(join(c, "cpu.cfs_quota_us"), String(quota));
  }

  async read(): Promise<CgroupReading> {
    if (this.layout.version === 2) {
      const d = this.dirs[0]!;
      const [memory, limit, usec, pids, ooms] = await Promise.all([
        readNumber(join(d, "memory.current")),
        readNumber(join(d, "memory.max")),
        readKeyed(join(d, "cpu.stat"), "usage_usec"),
        readNumber(join(d, "pids.current")),
        readKeyed(join(d, "memory.events"), "oom_kill"),
      ]);
      return { memory_bytes: memory, memory_limit_bytes: limit, cpu_time_ms: usec / 1000, pids, oom_kills: ooms };
    }
    const m = this.#dir("memory");
    const [memory, limit, ns, pids, ooms] = await Promise.all([
      readNumber(join(m, "memory.usage_in_bytes")),
      readNumber(join(m, "memory.limit_in_bytes")),
      readNumber(join(this.#dir("cpuacct"), "cpuacct.usage")),
      readNumber(join(this.#dir("pids"), "pids.current")),
      readKeyed(join(m, "memory.oom_control"), "oom_kill"),
    ]);
    return { memory_bytes: memory, memory_limit_bytes: limit, cpu_time_ms: ns / 1e6, pids, oom_kills: ooms };
  }

  async oomKills(): Promise<number> {
    if (this.layout.version === 2) return readKeyed(join(this.dirs[0]!, "memory.events"), "oom_kill");
    return readKeyed(join(this.#dir("memory"), "memory.oom_control"), "oom_kill");
  }

  async pids(): Promise<number[]> {
    const all = await Promise.all(this.procsFiles().map(readPids));
    return [...new Set(all.flat())];
  }

  /** SIGKILLs every process in the cgroup until none is left (a fork bomb cannot outrun pids.max). */
  async killAll(): Promise<void> {
    if (this.layout.version === 2 && existsSync(join(this.dirs[0]!, "cgroup.kill"))) {
      await writeFile(join(this.dirs[0]!, "cgroup.kill"), "1");
    }
    for (let round = 0; round < 200; round++) {
      const pids = await this.pids();
      if (pids.length === 0) return;
      for (const pid of pids) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
      await sleep(round < 10 ? 2 : 10);
    }
    throw new Error(`processes survive in cgroup ${this.dirs.join(", ")}: ${(await this.pids()).join(" ")}`);
  }

  /** Kills what is left and removes the directories. Idempotent. */
  async remove(): Promise<void> {
    if (!this.dirs.some((d) => existsSync(d))) return;
    await this.killAll();
    for (const d of this.dirs) {
      for (let i = 0; ; i++) {
        try {
          await rmdir(d);
          break;
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === "ENOENT") break;
          // Exiting processes keep the cgroup busy for a moment after they leave cgroup.procs.
          if (code === "EBUSY" && i < 100) {
            await sleep(10);
            continue;
          }
          throw err;
        }
      }
    }
  }
}

/** Creates and cleans up sandbox cgroups under `<hierarchy>/<parent>/rt-<pid>-<nonce>/`. */
export class CgroupManager {
  readonly instance = `rt-${process.pid}-${randomBytes(4).toString("hex")}`;

  constructor(
    readonly layout: CgroupLayout,
    private readonly parent: string,
  ) {}

  #hierarchies(): string[] {
    if (this.layout.version === 2) return [this.layout.root];
    const { memory, pids, cpu, cpuacct } = this.layout;
    return [...new Set([memory, pids, cpu, cpuacct])];
  }

  /**
   * Enables the controllers we need for children (v2 only) and removes dead instances' leftovers; returns
   * the names (sandbox ids) of the cgroups removed.
   */
  async prepare(): Promise<string[]> {
    for (const h of this.#hierarchies()) await mkdir(join(h, this.parent), { recursive: true });
    if (this.layout.version === 2) {
      const want = "+memory +pids +cpu";
      await writeFile(join(this.layout.root, "cgroup.subtree_control"), want).catch(() => undefined);
      await writeFile(join(this.layout.root, this.parent, "cgroup.subtree_control"), want);
    }
    return this.removeOrphans();
  }

  async removeOrphans(): Promise<string[]> {
    const removed = new Set<string>();
    for (const h of this.#hierarchies()) {
      const base = join(h, this.parent);
      const entries = await readdir(base, { withFileTypes: true }).catch(() => []);
      for (const e of entries) {
        const m = /^rt-(\d+)-[0-9a-f]+$/.exec(e.name);
        if (!e.isDirectory() || !m || pidAlive(Number(m[1]))) continue;
        const inst = join(base, e.name);
        const children = (await readdir(inst, { withFileTypes: true })).filter((c) => c.isDirectory());
        for (const c of children) {
          await new SandboxCgroup(this.layout, [join(inst, c.name)]).remove();
          removed.add(c.name);
        }
        await rmdir(inst).catch(() => undefined);
      }
    }
    return [...removed];
  }

  async create(name: string, limits: CgroupLimits): Promise<SandboxCgroup> {
    const dirs = this.#hierarchies().map((h) => join(h, this.parent, this.instance, name));
    for (const d of dirs) await mkdir(d, { recursive: true });
    if (this.layout.version === 2) {
      await writeFile(join(this.layout.root, this.parent, this.instance, "cgroup.subtree_control"), "+memory +pids +cpu");
    }
    const cg = new SandboxCgroup(this.layout, dirs);
    try {
      await cg.applyLimits(limits);
    } catch (err) {
      await cg.remove().catch(() => undefined);
      throw err;
    }
    return cg;
  }

  /** Removes this instance's (now empty) directories. */
  async close(): Promise<void> {
    for (const h of this.#hierarchies()) await rmdir(join(h, this.parent, this.instance)).catch(() => undefined);
  }
}
