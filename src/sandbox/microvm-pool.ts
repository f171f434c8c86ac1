/**
 * The microvm backend's pool of idle guests: per `pool_memory_mb` size, `pool_size` VMs already restored from
 * the saved state, each with its own fresh workspace image mounted and its command path warmed up, running as
 * the VMM user in its own host cgroup. A create takes one (renaming its directory and cgroup to the sandbox's, then giving it fresh
 * entropy and the clock — see seedGuest) and the pool refills in the background, one VM at a time. Nothing
 * is shared between sandboxes: a pooled VM, its disk and its cgroup belong to exactly one sandbox once taken.
 */
import { randomBytes } from "node:crypto";
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import type { CgroupManager } from "./cgroups.js";
import { launchVm, mountDisks, releaseVm, warmUpGuest, type LaunchedVm } from "./microvm-launch.js";
import type { MicroVmContext } from "./microvm-machine.js";

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export class MicroVmPool {
  readonly #idle = new Map<number, LaunchedVm[]>();
  #filling: Promise<void> | undefined;
  #closed = false;

  constructor(
    private readonly ctx: MicroVmContext,
    private readonly cgroups: CgroupManager,
    private readonly workspaceRoot: string,
  ) {}

  get #size(): number {
    const s = this.ctx.settings.microvm;
    return s.warm_pool ? s.pool_size : 0;
  }

  /** An idle VM for a sandbox of `memoryMb` (no extra mounts), or undefined when none is ready. */
  take(memoryMb: number): LaunchedVm | undefined {
    const idle = this.#idle.get(memoryMb) ?? [];
    let vm = idle.shift();
    // A pooled guest that died while idle (a VMM crash) is nobody's sandbox yet: it is only cleaned up.
    while (vm && !vm.guest.alive) {
      this.ctx.logger.warn({ dir: vm.dir }, "idle pooled microVM was gone; discarded");
      void releaseVm(vm).catch(() => undefined);
      vm = idle.shift();
    }
    this.refill();
    return vm;
  }

  /**
   * Removes the directories of idle guests a dead runtime left behind (their VMMs died with its cgroups,
   * see CgroupManager.prepare); a live runtime's, whose pid is in the name, are left alone.
   */
  async removeOrphans(): Promise<void> {
    const names = await readdir(this.workspaceRoot).catch(() => [] as string[]);
    for (const n of names) {
      const m = /^\.microvm-pool-(\d+)-[0-9a-f]+$/.exec(n);
      if (m && !pidAlive(Number(m[1]))) await rm(join(this.workspaceRoot, n), { recursive: true, force: true });
    }
  }

  refill(): void {
    if (this.#closed || this.#filling || this.#size === 0) return;
    this.#filling = (async () => {
      for (;;) {
        const memoryMb = this.ctx.settings.microvm.pool_memory_mb.find((mb) => (this.#idle.get(mb)?.length ?? 0) < this.#size);
        if (memoryMb === undefined || this.#closed) return;
        const name = `pool-${process.pid}-${randomBytes(6).toString("hex")}`;
        const vm = await launchVm(this.ctx, this.cgroups, {
          name,
          dir: join(this.workspaceRoot, `.microvm-${name}`),
          memoryMb,
          cpuCores: 1,
          mounts: [],
          init: async (guest, disks) => {
            await mountDisks(this.ctx, guest, disks);
            await warmUpGuest(this.ctx, guest);
          },
        });
        if (this.#closed) {
          await releaseVm(vm);
          return;
        }
        this.#idle.set(memoryMb, [...(this.#idle.get(memoryMb) ?? []), vm]);
      }
    })()
      .catch((err: unknown) => this.ctx.logger.warn({ err }, "microvm warm pool refill failed"))
      .finally(() => {
        this.#filling = undefined;
      });
  }

  /** Resolves once every pool size holds its idle VMs (or a refill failed, logged). */
  async warm(): Promise<void> {
    this.refill();
    while (this.#filling) await this.#filling;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#filling;
    const all = [...this.#idle.values()].flat();
    this.#idle.clear();
    await Promise.allSettled(all.map(releaseVm));
  }
}
