/**
 * Tier1 `docker` (runc) and Tier2 `gvisor` (runsc): one long-lived, hardened container per sandbox, driven
 * through the Docker engine API (dockerode, loaded on first use; no docker CLI). The container is created at
 * create and started at start; commands run via exec. Hardening: no network unless enabled, read-only root,
 * private tmpfs /tmp, every capability dropped, no-new-privileges, a non-root user, PidsLimit, Memory (swap
 * equal), NanoCpus, tini as init. The workspace is a host directory bind-mounted at /workspace, so file
 * transfer is the same symlink-proof walk as Tier0.
 *
 * Containers carry labels with the runtime id and the owning process; at start-up, containers of this
 * runtime id whose owner is gone are removed. Tier1 keeps a warm pool of started-then-paused containers
 * whose limits are set on claim (runsc cannot update limits, so Tier2 has no pool).
 */
import { randomBytes } from "node:crypto";
import { mkdir, rename } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import type Docker from "dockerode";
import type { Clock } from "../core/clock.js";
import type { SandboxSettings } from "../core/config/index.js";
import { SandboxError } from "../core/errors.js";
import type { Logger } from "../core/logger.js";
import type { BackendSandbox, BackendSandboxSpec, SandboxBackend, TierAvailability } from "./backend.js";
import { DockerSandbox, type DockerContext } from "./docker-sandbox.js";
import { HostWorkspace } from "./workspace.js";

export interface DockerBackendOptions {
  readonly settings: SandboxSettings;
  readonly workspaceRoot: string;
  readonly clock: Clock;
  readonly logger: Logger;
  /** `docker` runs containers with runc (Tier1), `gvisor` with the configured runsc runtime (Tier2). */
  readonly variant: "docker" | "gvisor";
}

const OWNER = `${hostname()}:${process.pid}`;

function ownerGone(label: string | undefined): boolean {
  const m = /^(.*):(\d+)$/.exec(label ?? "");
  if (!m || m[1] !== hostname()) return !m;
  try {
    process.kill(Number(m[2]), 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== "EPERM";
  }
}

interface PoolEntry {
  readonly container: Docker.Container;
  readonly workspace: string;
}

export class DockerBackend implements SandboxBackend {
  readonly tier: "Tier1" | "Tier2";
  readonly name: string;
  readonly #runtime: string;
  #availability: Promise<TierAvailability> | undefined;
  #docker: Docker | undefined;
  readonly #pool: PoolEntry[] = [];
  #filling: Promise<void> | undefined;
  #closed = false;

  constructor(private readonly options: DockerBackendOptions) {
    this.tier = options.variant === "docker" ? "Tier1" : "Tier2";
    this.name = options.variant;
    this.#runtime = options.variant === "docker" ? "runc" : options.settings.docker.gvisor_runtime;
  }

  get #poolSize(): number {
    return this.options.variant === "docker" ? this.options.settings.docker.warm_pool_size : 0;
  }

  prepare(): Promise<TierAvailability> {
    return (this.#availability ??= this.#probe());
  }

  async #probe(): Promise<TierAvailability> {
    const s = this.options.settings.docker;
    const howto = "run scripts/setup-host.sh as root (installs docker.io and runsc, starts dockerd, builds the image)";
    const { default: DockerCtor } = await import("dockerode");
    const docker = new DockerCtor({ socketPath: s.socket_path, timeout: 30_000 });
    try {
      await docker.ping();
    } catch (err) {
      return { available: false, missing: [`no Docker engine answers at ${s.socket_path} (${(err as Error).message})`], howto };
    }
    const missing: string[] = [];
    const info = (await docker.info()) as { Runtimes?: Record<string, unknown> };
    if (!info.Runtimes || !(this.#runtime in info.Runtimes)) {
      missing.push(
        `the Docker engine has no "${this.#runtime}" runtime: add {"runtimes":{"${this.#runtime}":{"path":"/usr/bin/runsc"}}} to /etc/docker/daemon.json and restart dockerd`,
      );
    }
    try {
      await docker.getImage(s.image).inspect();
    } catch {
      missing.push(`the sandbox image ${s.image} is not in the engine (there is no registry; build it locally)`);
    }
    if (missing.length) return { available: false, missing, howto };
    await mkdir(this.options.workspaceRoot, { recursive: true, mode: 0o711 });
    this.#docker = docker;
    await this.#removeOrphans();
    this.#refill();
    return { available: true };
  }

  async #removeOrphans(): Promise<void> {
    const docker = this.#docker!;
    const list = await docker.listContainers({
      all: true,
      filters: { label: [`symbiont.runtime=${this.options.settings.runtime_id}`, `symbiont.tier=${this.name}`] },
    });
    for (const c of list) {
      if (!ownerGone(c.Labels["symbiont.owner"])) continue;
      this.options.logger.info({ container: c.Id, tier: this.name }, "removing orphaned sandbox container");
      await docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined);
      const ws = c.Labels["symbiont.workspace"];
      if (ws?.startsWith(`${this.options.workspaceRoot}/`)) await new HostWorkspace(ws, { uid: 0, gid: 0 }).remove();
    }
  }

  #context(): DockerContext {
    const s = this.options.settings.docker;
    return {
      docker: this.#docker!,
      user: s.user,
      hostProcesses: this.#runtime === "runc",
      clock: this.options.clock,
      logger: this.options.logger,
    };
  }

  #uidGid(): { uid: number; gid: number } {
    const [uid, gid] = this.options.settings.docker.user.split(":").map(Number);
    return { uid: uid!, gid: gid! };
  }

  async #createContainer(spec: BackendSandboxSpec | undefined, workspace: HostWorkspace, name: string): Promise<Docker.Container> {
    const s = this.options.settings;
    const memory = spec ? spec.limits.memory_mb * 1024 * 1024 : undefined;
    const binds = [`${workspace.path}:/workspace:rw`];
    for (const m of spec?.mounts ?? []) binds.push(`${m.host_path}:${m.sandbox_path}:${m.read_only ? "ro" : "rw"}`);
    return this.#docker!.createContainer({
      name,
      Image: s.docker.image,
      Cmd: ["sleep", "2147483647"],
      User: s.docker.init_user,
      WorkingDir: "/workspace",
      Env: [],
      Labels: {
        "symbiont.runtime": s.runtime_id,
        "symbiont.owner": OWNER,
        "symbiont.tier": this.name,
        "symbiont.workspace": workspace.path,
      },
      NetworkDisabled: !spec?.network,
      HostConfig: {
        Runtime: this.#runtime,
        Init: true,
        NetworkMode: spec?.network ? "bridge" : "none",
        ReadonlyRootfs: true,
        Tmpfs: { "/tmp": `rw,nosuid,nodev,size=${s.docker.tmpfs_bytes}` },
        CapDrop: ["ALL"],
        SecurityOpt: ["no-new-privileges"],
        PidsLimit: spec ? spec.pids_limit : s.pids_limit,
        ...(memory ? { Memory: memory, MemorySwap: memory } : {}),
        ...(spec ? { NanoCpus: Math.round(spec.limits.cpu_cores * 1e9) } : {}),
        Binds: binds,
        LogConfig: { Type: "none", Config: {} },
        IpcMode: "private",
      },
    });
  }

  #refill(): void {
    if (this.#closed || this.#filling || this.#pool.length >= this.#poolSize) return;
    this.#filling = (async () => {
      while (!this.#closed && this.#pool.length < this.#poolSize) {
        const workspace = new HostWorkspace(join(this.options.workspaceRoot, `pool-${randomBytes(6).toString("hex")}`), this.#uidGid());
        await workspace.create();
        const container = await this.#createContainer(undefined, workspace, `symbiont-pool-${randomBytes(6).toString("hex")}`);
        await container.start();
        await container.pause();
        if (this.#closed) {
          await container.remove({ force: true }).catch(() => undefined);
          await workspace.remove();
          return;
        }
        this.#pool.push({ container, workspace: workspace.path });
      }
    })()
      .catch((err: unknown) => this.options.logger.warn({ err, tier: this.name }, "warm pool refill failed"))
      .finally(() => {
        this.#filling = undefined;
      });
  }

  async warm(): Promise<void> {
    while (this.#filling) await this.#filling;
  }

  async create(spec: BackendSandboxSpec): Promise<BackendSandbox> {
    if (!this.#docker) throw new SandboxError("TIER_UNAVAILABLE", `${this.name} was not prepared`);
    const name = `symbiont-${spec.id}`;
    const pooled = !spec.network && spec.mounts.length === 0 ? this.#pool.shift() : undefined;
    if (pooled) {
      this.#refill();
      try {
        const memory = spec.limits.memory_mb * 1024 * 1024;
        await pooled.container.update({
          Memory: memory,
          MemorySwap: memory,
          NanoCpus: Math.round(spec.limits.cpu_cores * 1e9),
          PidsLimit: spec.pids_limit,
        });
        await pooled.container.rename({ name });
        const workspace = new HostWorkspace(join(this.options.workspaceRoot, spec.id), this.#uidGid());
        // The bind mount follows the directory, not its name.
        await rename(pooled.workspace, workspace.path);
        return new DockerSandbox(this.#context(), pooled.container, workspace, { paused: true });
      } catch (err) {
        this.options.logger.warn({ err }, "pooled container unusable; creating a fresh one");
        await pooled.container.remove({ force: true }).catch(() => undefined);
        await new HostWorkspace(pooled.workspace, this.#uidGid()).remove();
      }
    }
    const workspace = new HostWorkspace(join(this.options.workspaceRoot, spec.id), this.#uidGid());
    await workspace.create();
    try {
      const container = await this.#createContainer(spec, workspace, name);
      return new DockerSandbox(this.#context(), container, workspace, { paused: false });
    } catch (err) {
      await workspace.remove();
      throw err;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#filling;
    const entries = this.#pool.splice(0);
    await Promise.all(
      entries.map(async (e) => {
        await e.container.remove({ force: true }).catch(() => undefined);
        await new HostWorkspace(e.workspace, this.#uidGid()).remove();
      }),
    );
  }
}
