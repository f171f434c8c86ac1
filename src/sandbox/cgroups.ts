/**
 * A cgroup per sandbox for memory, pids and cpu quota, on either layout a Linux host may have: v1 (one
 * hierarchy per controller under /sys/fs/cgroup/<controller>, what these build machines have) or v2 (one
 * unified hierarchy, what most hosts have). The layout is detected once at start-up. Sandboxes of one
 * runtime instance live under `<parent>/rt-<pid>-<nonce>/`, so a later instance can tell a dead
 * instance's leftovers (its pid is gone) from a live neighbour's and remove only those.
 */
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, openSync, readSync, realpathSync } from "node:fs";
import { readdir, readFile, rename, rmdir, writeFile, mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";

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

/**
 * The counters a monitoring pass needs, read synchronously from file descriptors kept open per cgroup: on a
 * paravirtualised host each open/read/close is a costly trap, and a thousand cgroups must be sampled in tens
 * of milliseconds. Block io is undefined when the host has no io accounting (v1 without blkio, v2 without io).
 */
export interface CgroupSample {
  readonly memory_bytes: number;
  readonly cpu_time_ms: number;
  readonly pids: number;
  readonly io_read_bytes: number | undefined;
  readonly io_write_bytes: number | undefined;
}

/** What a limit change did: `killed` when the new memory limit was below usage and processes died for it. */
export interface LimitChange {
  readonly killed: boolean;
}

/**
 * The host's cgroup layout: where each controller's hierarchy is, or that the host has none usable. `blkio`
 * (v1) is optional: without it io is not accounted, everything else still works.
 */
export type CgroupLayout =
  | { readonly version: 1; readonly memory: string; readonly pids: string; readonly cpu: string; readonly cpuacct: string; readonly blkio?: string }
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
  const blkio = join(root, "blkio");
  const io = existsSync(join(blkio, "blkio.throttle.io_service_bytes")) ? { blkio: realpathSync(blkio) } : {};
  return { version: 1, memory: dirs.memory!, pids: dirs.pids!, cpu: dirs.cpu!, cpuacct: dirs.cpuacct!, ...io };
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

const sampleBuffer = Buffer.alloc(16 * 1024);

/** Re-reads a cgroup file from offset 0 through an open descriptor (cgroup files regenerate on each read). */
function preadText(fd: number): string {
  const n = readSync(fd, sampleBuffer, 0, sampleBuffer.length, 0);
  return sampleBuffer.toString("latin1", 0, n);
}

/** Sums v1 `blkio.throttle.io_service_bytes` ("8:0 Read 123") or v2 `io.stat` ("8:0 rbytes=1 wbytes=2 ...") lines. */
function parseIo(text: string, v2: boolean): { read: number; write: number } {
  let read = 0;
  let write = 0;
  for (const line of text.split("\n")) {
    if (v2) {
      const r = /\brbytes=(\d+)/.exec(line);
      const w = /\bwbytes=(\d+)/.exec(line);
      if (r) read += Number(r[1]);
      if (w) write += Number(w[1]);
      continue;
    }
    const [dev, op, value] = line.split(" ");
    if (!dev?.includes(":")) continue;
    if (op === "Read") read += Number(value);
    else if (op === "Write") write += Number(value);
  }
  return { read, write };
}

function keyed(text: string, key: string): number {
  for (const line of text.split("\n")) {
    const [k, v] = line.split(" ");
    if (k === key) return Number(v);
  }
  return 0;
}

function isBusy(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === "EBUSY";
}

/** One sandbox's cgroup (one directory per v1 hierarchy, or one v2 directory). */
export class SandboxCgroup {
  #fds: { memory: number; cpu: number; pids: number; io: number | undefined } | undefined;
  #memoryLimit = Number.POSITIVE_INFINITY;


  constructor(
    private readonly layout: CgroupLayout,
    /** The directories of this cgroup, one per distinct hierarchy. */
    readonly dirs: readonly string[],
  ) {}

  /** The memory limit last written, bytes. */
  get memoryLimit(): number {
    return this.#memoryLimit;
  }

  /** Files a process writes its pid into to join every hierarchy of this cgroup. */
  procsFiles(): string[] {
    return this.dirs.map((d) => join(d, "cgroup.procs"));
  }

  #dir(controller: "memory" | "pids" | "cpu" | "cpuacct"): string {
    if (this.layout.version === 2) return this.dirs[0]!;
    const base = this.layout[controller];
    return this.dirs.find((d) => d.startsWith(`${base}/`))!;
  }

  #ioFile(): string | undefined {
    if (this.layout.version === 2) {
      const f = join(this.dirs[0]!, "io.stat");
      return existsSync(f) ? f : undefined;
    }
    const base = this.layout.blkio;
    const dir = base === undefined ? undefined : this.dirs.find((d) => d.startsWith(`${base}/`));
    return dir === undefined ? undefined : join(dir, "blkio.throttle.io_service_bytes");
  }

  /**
   * Writes every limit, live: a running sandbox gets the new values at once. A memory limit below current
   * usage is never silently refused: v2's kernel OOM-kills inside the write; v1 refuses with EBUSY, so the
   * cgroup's processes are killed and the limit written again (unless the cgroup went away with them, as a
   * container's does). Either way `killed` says so.
   */
  async applyLimits(limits: CgroupLimits): Promise<LimitChange> {
    const mem = String(Math.floor(limits.memory_bytes));
    const quota = Math.max(1000, Math.round(limits.cpu_cores * CPU_PERIOD_US));
    let killed = false;
    if (this.layout.version === 2) {
      const d = this.dirs[0]!;
      const before = await this.oomKills();
      await writeFile(join(d, "memory.max"), mem);
      killed = (await this.oomKills()) > before;
      // No swap: an overrun is an OOM kill, not a slow crawl through swap.
      if (existsSync(join(d, "memory.swap.max"))) await writeFile(join(d, "memory.swap.max"), "0");
      await writeFile(join(d, "pids.max"), String(limits.pids));
      await writeFile(join(d, "cpu.max"), `${quota} ${CPU_PERIOD_US}`);
    } else {
      const m = this.#dir("memory");
      const memsw = join(m, "memory.memsw.limit_in_bytes");
      const hasMemsw = existsSync(memsw);
      // memsw must stay >= the memory limit: raise it first when growing, lower it after when shrinking.
      const growing = limits.memory_bytes > (await readNumber(join(m, "memory.limit_in_bytes")));
      if (hasMemsw && growing) await writeFile(memsw, mem);
      try {
        await writeFile(join(m, "memory.limit_in_bytes"), mem);
      } catch (err) {
        if (!isBusy(err)) throw err;
        await this.killAll();
        killed = true;
        try {
          await writeFile(join(m, "memory.limit_in_bytes"), mem);
        } catch (retryErr) {
          // A container engine removes its container's cgroup once the last process is gone; it makes a new one
          // when the container starts again, and whoever restarts it writes the limits there.
          if ((retryErr as NodeJS.ErrnoException).code !== "ENOENT" || existsSync(m)) throw retryErr;
          return { killed };
        }
      }
      if (hasMemsw && !growing) await writeFile(memsw, mem);
      await writeFile(join(m, "memory.swappiness"), "0").catch(() => undefined);
      await writeFile(join(this.#dir("pids"), "pids.max"), String(limits.pids));
      const c = this.#dir("cpu");
      await writeFile(join(c, "cpu.cfs_period_us"), String(CPU_PERIOD_US));
      await writeFile(join(c, "cpu.cfs_quota_us"), String(quota));
    }
    this.#memoryLimit = Math.floor(limits.memory_bytes);
    return { killed };
  }

  /**
   * The same cgroup under another name in every hierarchy (its processes stay in it): a pooled microVM's
   * cgroup becomes its sandbox's. All or nothing: on a failure the names already changed are changed back.
   */
  async rename(name: string): Promise<SandboxCgroup> {
    const to = this.dirs.map((d) => join(dirname(d), name));
    const done: number[] = [];
    try {
      for (const [i, d] of this.dirs.entries()) {
        await rename(d, to[i]!);
        done.push(i);
      }
    } catch (err) {
      for (const i of done) await rename(to[i]!, this.dirs[i]!).catch(() => undefined);
      throw err;
    }
    this.#closeFds();
    const renamed = new SandboxCgroup(this.layout, to);
    renamed.#memoryLimit = this.#memoryLimit;
    return renamed;
  }

  /** The monitoring counters, read synchronously (see `CgroupSample`). */
  sample(): CgroupSample {
    const v2 = this.layout.version === 2;
    const fds = (this.#fds ??= this.#open());
    const memory = Number(preadText(fds.memory));
    const cpuText = preadText(fds.cpu);
    const cpu_time_ms = v2 ? keyed(cpuText, "usage_usec") / 1000 : Number(cpuText) / 1e6;
    const pids = Number(preadText(fds.pids));
    const io = fds.io === undefined ? undefined : parseIo(preadText(fds.io), v2);
    return { memory_bytes: memory, cpu_time_ms, pids, io_read_bytes: io?.read, io_write_bytes: io?.write };
  }

  #open(): { memory: number; cpu: number; pids: number; io: number | undefined } {
    const v2 = this.layout.version === 2;
    const io = this.#ioFile();
    return {
      memory: openSync(join(this.#dir("memory"), v2 ? "memory.current" : "memory.usage_in_bytes"), "r"),
      cpu: openSync(join(this.#dir("cpuacct"), v2 ? "cpu.stat" : "cpuacct.usage"), "r"),
      pids: openSync(join(this.#dir("pids"), "pids.current"), "r"),
      io: io === undefined ? undefined : openSync(io, "r"),
    };
  }

  #closeFds(): void {
    const fds = this.#fds;
    this.#fds = undefined;
    if (!fds) return;
    for (const fd of [fds.memory, fds.cpu, fds.pids, fds.io]) if (fd !== undefined) closeSync(fd);
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
    this.#closeFds();
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

/** The distinct hierarchy roots of a layout (v1 controllers may share one, as cpu and cpuacct do). */
export function hierarchiesOf(layout: CgroupLayout): string[] {
  if (layout.version === 2) return [layout.root];
  const { memory, pids, cpu, cpuacct, blkio } = layout;
  return [...new Set([memory, pids, cpu, cpuacct, ...(blkio === undefined ? [] : [blkio])])];
}

/**
 * A cgroup someone else made (a container engine's `docker/<id>`), found by its path relative to each
 * hierarchy root: the first candidate present in every hierarchy, or undefined.
 */
export function existingCgroup(layout: CgroupLayout, candidates: readonly string[]): SandboxCgroup | undefined {
  const roots = hierarchiesOf(layout);
  for (const rel of candidates) {
    const dirs = roots.map((r) => join(r, rel));
    if (dirs.every((d) => existsSync(d))) return new SandboxCgroup(layout, dirs);
  }
  return undefined;
}

/** Creates and cleans up sandbox cgroups under `<hierarchy>/<parent>/rt-<pid>-<nonce>/`. */
export class CgroupManager {
  readonly instance = `rt-${process.pid}-${randomBytes(4).toString("hex")}`;

  constructor(
    readonly layout: CgroupLayout,
    private readonly parent: string,
  ) {}

  #hierarchies(): string[] {
    return hierarchiesOf(this.layout);
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
      // io accounting where the host delegates it; without it io is reported as unmeasured.
      await writeFile(join(this.layout.root, "cgroup.subtree_control"), "+io").catch(() => undefined);
      await writeFile(join(this.layout.root, this.parent, "cgroup.subtree_control"), "+io").catch(() => undefined);
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
      const ctl = join(this.layout.root, this.parent, this.instance, "cgroup.subtree_control");
      await writeFile(ctl, "+memory +pids +cpu");
      await writeFile(ctl, "+io").catch(() => undefined);
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

  /** Removes the parent directory when no instance is left in it (tools with a private parent use this). */
  async removeParent(): Promise<void> {
    for (const h of this.#hierarchies()) await rmdir(join(h, this.parent)).catch(() => undefined);
  }

  /** Removes this instance's (now empty) directories. */
  async close(): Promise<void> {
    for (const h of this.#hierarchies()) await rmdir(join(h, this.parent, this.instance)).catch(() => undefined);
  }
}
