/**
 * The sandbox orchestrator: one status machine, one set of checks and one event stream for every tier, with
 * the isolation itself delegated to the backend of the sandbox's tier. Nothing here ever picks a weaker tier
 * than asked: a tier that cannot run is TIER_UNAVAILABLE naming what is missing.
 *
 * Order of checks on create: shape (limits, env names, mounts → SANDBOX_CONFIG_INVALID / MOUNT_DENIED),
 * then the Authorizer (`sandbox.create`, `sandbox.network`, `sandbox.mount`), then tier availability.
 */
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import type { Authorizer } from "../core/authorizer.js";
import { authorize } from "../core/authorizer.js";
import type { Clock } from "../core/clock.js";
import type { SandboxSettings } from "../core/config/index.js";
import { RuntimeError, SandboxError, LifecycleError } from "../core/errors.js";
import type { EventStream } from "../core/events.js";
import { SandboxId, type AgentId } from "../core/ids.js";
import type { Logger } from "../core/logger.js";
import { SECURITY_TIERS, type ResourceLimits, type SecurityTier } from "../core/types.js";
import type { BackendSandbox, SandboxBackend } from "./backend.js";
import { DockerBackend } from "./docker-backend.js";
import { FirecrackerBackend } from "./firecracker-backend.js";
import { MicroVmBackend } from "./microvm-backend.js";
import { ProcessBackend } from "./process-backend.js";
import { SandboxRecord, type SandboxSecurityEventKind } from "./record.js";
import type {
  CommandResult,
  ExecOptions,
  SandboxConfig,
  SandboxFilter,
  SandboxLimitUpdate,
  SandboxOrchestrator,
  SandboxProcess,
  SandboxState,
  SandboxStatus,
  SandboxUsage,
  SpawnOptions,
} from "./types.js";
import { checkEnvironment, checkLimits, checkMount, workspaceRelative } from "./validation.js";

/** How many destroyed sandboxes stay queryable (status Destroyed) before they are forgotten. */
const DESTROYED_KEPT = 1000;

export interface SandboxOrchestratorDeps {
  readonly config: SandboxSettings;
  readonly backends: readonly SandboxBackend[];
  readonly clock: Clock;
  readonly logger: Logger;
  readonly events: EventStream;
  readonly authorizer: Authorizer;
}

export class DefaultSandboxOrchestrator implements SandboxOrchestrator {
  readonly #records = new Map<SandboxId, SandboxRecord>();
  readonly #backends = new Map<SecurityTier, SandboxBackend>();
  /** What each prepared tier reported about how it isolates here (logged once, shown in status). */
  readonly #isolation = new Map<SecurityTier, string>();
  #closed = false;
  #shutdown: Promise<void> | undefined;

  constructor(private readonly deps: SandboxOrchestratorDeps) {
    for (const b of deps.backends) this.#backends.set(b.tier, b);
  }

  /** Probes a tier and does its start-up work (orphan clean-up), then waits until its warm pool is filled. */
  async prepareTier(tier: SecurityTier): Promise<void> {
    const backend = await this.#availableBackend(tier);
    await backend.warm?.();
  }

  async #availableBackend(tier: SecurityTier): Promise<SandboxBackend> {
    const backend = this.#backends.get(tier);
    if (!backend) {
      throw new SandboxError("TIER_UNAVAILABLE", `Security tier ${tier} has no backend in this runtime`, { details: { tier } });
    }
    const availability = await backend.prepare();
    if (!availability.available) {
      throw new SandboxError(
        "TIER_UNAVAILABLE",
        `Security tier ${tier} (${backend.name}) cannot run on this host: ${availability.missing.join("; ")}. ${availability.howto}`,
        { details: { tier, backend: backend.name, missing: availability.missing, howto: availability.howto } },
      );
    }
    if (!this.#isolation.has(tier)) {
      const isolation = availability.detail ? `${backend.name}: ${availability.detail}` : backend.name;
      this.#isolation.set(tier, isolation);
      this.deps.logger.info({ tier, backend: backend.name, isolation }, "sandbox tier ready");
    }
    return backend;
  }

  #securityEvent(agent_id: AgentId, kind: SandboxSecurityEventKind, detail: string, sandbox_id?: SandboxId): void {
    this.deps.events.emit("sandbox.security_event", { agent_id, kind, detail, ...(sandbox_id ? { sandbox_id } : {}) });
  }

  #checkOpen(): void {
    if (this.#closed) throw new LifecycleError("RUNTIME_SHUT_DOWN", "The sandbox orchestrator has shut down");
  }

  #record(id: SandboxId): SandboxRecord {
    const r = this.#records.get(id);
    if (!r) throw new SandboxError("SANDBOX_NOT_FOUND", `Sandbox ${id} not found`, { details: { sandbox_id: id } });
    return r;
  }

  #requireState(r: SandboxRecord, allowed: readonly SandboxState[], action: string): BackendSandbox {
    if (!allowed.includes(r.state) || !r.handle) {
      throw new SandboxError("SANDBOX_INVALID_STATE", `Cannot ${action} sandbox ${r.id}: it is ${r.state} (needs ${allowed.join(" or ")})`, {
        details: { sandbox_id: r.id, state: r.state, allowed, action },
      });
    }
    return r.handle;
  }

  async createSandbox(config: SandboxConfig): Promise<SandboxId> {
    this.#checkOpen();
    const { agent_id } = config;
    if (!SECURITY_TIERS.includes(config.security_tier)) {
      throw new SandboxError("SANDBOX_CONFIG_INVALID", `Unknown security tier ${String(config.security_tier)}`);
    }
    checkLimits(config.resource_limits);
    checkEnvironment(config.environment_variables, "environment_variables");
    const mounts = config.filesystem_config.mounts.map((m) => {
      try {
        return checkMount(m, this.deps.config.mount_allowlist);
      } catch (err) {
        this.#securityEvent(agent_id, "mount_denied", (err as Error).message);
        throw err;
      }
    });
    const { authorizer, events } = this.deps;
    await authorize(authorizer, events, { agent_id, action: "sandbox.create", resource: config.security_tier });
    if (config.network_config.enabled) {
      await authorize(authorizer, events, { agent_id, action: "sandbox.network", resource: config.security_tier });
    }
    for (const m of mounts) {
      await authorize(authorizer, events, {
        agent_id,
        action: "sandbox.mount",
        resource: m.host_path,
        context: { sandbox_path: m.sandbox_path, read_only: m.read_only },
      });
    }
    const backend = await this.#availableBackend(config.security_tier);
    const id = SandboxId.new();
    let handle: BackendSandbox;
    // The backend may report a failure before the record exists (during create): it is applied once it does.
    const late: { record?: SandboxRecord; failedEarly?: string } = {};
    const onFailed = (reason: string): void => {
      const record = late.record;
      if (!record) {
        late.failedEarly = reason;
        return;
      }
      if (record.state === "Destroyed" || record.state === "Failed") return;
      this.#transition(record, "Failed", reason);
      this.deps.logger.error({ sandbox_id: id, agent_id, reason }, "sandbox failed");
    };
    try {
      handle = await backend.create({
        id,
        limits: config.resource_limits,
        pids_limit: this.deps.config.pids_limit,
        network: config.network_config.enabled,
        mounts,
        env: { ...config.environment_variables },
        onFailed,
      });
    } catch (err) {
      throw wrapBackendError(err, `cannot create a ${backend.name} sandbox`);
    }
    this.#checkOpen();
    const record = new SandboxRecord(id, config, handle, this.deps.clock.now(), backend.name, this.#isolation.get(config.security_tier));
    late.record = record;
    this.#records.set(id, record);
    events.emit("sandbox.created", { sandbox_id: id, agent_id, tier: config.security_tier });
    if (late.failedEarly !== undefined) onFailed(late.failedEarly);
    this.deps.logger.debug({ sandbox_id: id, agent_id, tier: config.security_tier }, "sandbox created");
    return id;
  }

  #transition(r: SandboxRecord, to: SandboxState, reason?: string): void {
    const from = r.state;
    r.setState(to, this.deps.clock.now(), reason);
    this.deps.events.emit("sandbox.state_changed", {
      sandbox_id: r.id,
      agent_id: r.config.agent_id,
      from,
      to,
      ...(reason ? { reason } : {}),
    });
  }

  startSandbox(sandboxId: SandboxId): Promise<void> {
    this.#checkOpen();
    const r = this.#record(sandboxId);
    return r.exclusive(async () => {
      const handle = this.#requireState(r, ["Created", "Stopped"], "start");
      this.#transition(r, "Starting");
      try {
        await handle.start();
      } catch (err) {
        const e = wrapBackendError(err, "cannot start the sandbox");
        this.#transition(r, "Failed", e.message);
        throw e;
      }
      this.#transition(r, "Running");
    });
  }

  stopSandbox(sandboxId: SandboxId): Promise<void> {
    this.#checkOpen();
    const r = this.#record(sandboxId);
    return r.exclusive(async () => {
      const handle = this.#requireState(r, ["Running"], "stop");
      try {
        r.killProcesses();
        await handle.stop();
      } catch (err) {
        const e = wrapBackendError(err, "cannot stop the sandbox");
        this.#transition(r, "Failed", e.message);
        throw e;
      }
      this.#transition(r, "Stopped");
    });
  }

  destroySandbox(sandboxId: SandboxId): Promise<void> {
    const r = this.#record(sandboxId);
    return r.exclusive(async () => {
      const handle = this.#requireState(r, ["Created", "Starting", "Running", "Stopped", "Failed"], "destroy");
      try {
        r.killProcesses();
        await handle.destroy();
      } catch (err) {
        const e = wrapBackendError(err, "cannot destroy the sandbox");
        if (r.state !== "Failed") this.#transition(r, "Failed", e.message);
        throw e;
      }
      this.#transition(r, "Destroyed");
      r.release();
      this.#forgetOldDestroyed();
    });
  }

  #forgetOldDestroyed(): void {
    const destroyed = [...this.#records.values()].filter((r) => r.state === "Destroyed");
    for (const r of destroyed.slice(0, Math.max(0, destroyed.length - DESTROYED_KEPT))) this.#records.delete(r.id);
  }

  async getSandboxStatus(sandboxId: SandboxId): Promise<SandboxStatus> {
    return this.#record(sandboxId).status();
  }

  async listSandboxes(filter: SandboxFilter = {}): Promise<SandboxStatus[]> {
    const out: SandboxStatus[] = [];
    for (const r of this.#records.values()) {
      if (r.state === "Destroyed") continue;
      if (filter.agent_id !== undefined && r.config.agent_id !== filter.agent_id) continue;
      out.push(r.status());
    }
    return out;
  }

  #env(r: SandboxRecord, extra: Readonly<Record<string, string>> | undefined): Record<string, string> {
    if (extra) checkEnvironment(extra, "command environment");
    return { PATH: "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", HOME: "/workspace", TMPDIR: "/tmp", ...r.config.environment_variables, ...extra };
  }

  #cwd(cwd: string | undefined): string {
    if (cwd === undefined) return "/workspace";
    if (!cwd.startsWith("/") || cwd.split("/").includes("..")) {
      throw new SandboxError("SANDBOX_CONFIG_INVALID", `cwd must be an absolute path without "..": ${JSON.stringify(cwd)}`);
    }
    return cwd;
  }

  async executeCommand(
    sandboxId: SandboxId,
    command: string,
    args: readonly string[],
    options: ExecOptions = {},
  ): Promise<CommandResult> {
    this.#checkOpen();
    const r = this.#record(sandboxId);
    const handle = this.#requireState(r, ["Running"], "execute a command in");
    const agent_id = r.config.agent_id;
    await authorize(this.deps.authorizer, this.deps.events, {
      agent_id,
      action: "sandbox.exec",
      resource: command,
      context: { sandbox_id: sandboxId, args: [...args] },
    });
    const timeout = options.timeout_ms ?? r.config.resource_limits.execution_timeout;
    const stdin = typeof options.stdin === "string" ? Buffer.from(options.stdin) : options.stdin;
    let result: CommandResult;
    try {
      result = await handle.exec({
        command,
        args,
        env: this.#env(r, options.env),
        cwd: this.#cwd(options.cwd),
        timeout_ms: timeout,
        max_output_bytes: this.deps.config.max_output_bytes,
        ...(stdin ? { stdin } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (err) {
      throw wrapBackendError(err, `cannot run ${command}`);
    }
    this.deps.events.emit("sandbox.command_executed", {
      sandbox_id: sandboxId,
      agent_id,
      command,
      exit_code: result.exit_code,
      duration_ms: result.duration_ms,
      timed_out: result.timed_out,
      oom_killed: result.oom_killed,
      truncated: result.truncated,
    });
    if (result.timed_out) this.#securityEvent(agent_id, "timed_out", `${command} killed after ${timeout} ms`, sandboxId);
    if (result.oom_killed) this.#securityEvent(agent_id, "oom_killed", `${command} exceeded ${r.config.resource_limits.memory_mb} MiB`, sandboxId);
    if (result.truncated) this.#securityEvent(agent_id, "output_truncated", `${command} output cut at ${this.deps.config.max_output_bytes} bytes`, sandboxId);
    return result;
  }

  async spawnProcess(
    sandboxId: SandboxId,
    command: string,
    args: readonly string[],
    options: SpawnOptions = {},
  ): Promise<SandboxProcess> {
    this.#checkOpen();
    const r = this.#record(sandboxId);
    const handle = this.#requireState(r, ["Running"], "spawn a process in");
    const agent_id = r.config.agent_id;
    await authorize(this.deps.authorizer, this.deps.events, {
      agent_id,
      action: "sandbox.exec",
      resource: command,
      context: { sandbox_id: sandboxId, args: [...args], long_lived: true },
    });
    let proc: SandboxProcess;
    try {
      proc = await handle.spawn({
        command,
        args,
        env: this.#env(r, options.env),
        cwd: this.#cwd(options.cwd),
        timeout_ms: options.timeout_ms ?? 0,
      });
    } catch (err) {
      throw wrapBackendError(err, `cannot start ${command}`);
    }
    r.track(proc);
    this.deps.events.emit("sandbox.process_spawned", { sandbox_id: sandboxId, agent_id, command });
    void proc.exited.then((exit) => {
      this.deps.events.emit("sandbox.process_exited", { sandbox_id: sandboxId, agent_id, command, ...exit });
      if (exit.oom_killed) this.#securityEvent(agent_id, "oom_killed", `${command} exceeded ${r.config.resource_limits.memory_mb} MiB`, sandboxId);
      if (exit.timed_out) this.#securityEvent(agent_id, "timed_out", `${command} killed after ${options.timeout_ms} ms`, sandboxId);
    });
    return proc;
  }

  #relative(r: SandboxRecord, remotePath: string): string {
    try {
      return workspaceRelative(remotePath);
    } catch (err) {
      this.#securityEvent(r.config.agent_id, "path_escape", (err as Error).message, r.id);
      throw err;
    }
  }

  async uploadFile(sandboxId: SandboxId, localPath: string, remotePath: string): Promise<void> {
    this.#checkOpen();
    const r = this.#record(sandboxId);
    const handle = this.#requireState(r, ["Created", "Running", "Stopped"], "upload a file to");
    const rel = this.#relative(r, remotePath);
    await authorize(this.deps.authorizer, this.deps.events, { agent_id: r.config.agent_id, action: "file.upload", resource: `/workspace/${rel}` });
    const max = this.deps.config.max_file_bytes;
    const size = (await stat(localPath)).size;
    if (size > max) {
      throw new SandboxError("FILE_TOO_LARGE", `${localPath} is ${size} bytes; the upload cap is ${max}`, {
        details: { path: localPath, size, max_bytes: max },
      });
    }
    const data = await readFile(localPath);
    await this.#transfer(r, () => handle.writeFile(rel, data));
    this.deps.events.emit("sandbox.file_transferred", { sandbox_id: sandboxId, agent_id: r.config.agent_id, direction: "upload", path: `/workspace/${rel}`, bytes: data.length });
  }

  async downloadFile(sandboxId: SandboxId, remotePath: string, localPath: string): Promise<void> {
    this.#checkOpen();
    const r = this.#record(sandboxId);
    const handle = this.#requireState(r, ["Created", "Running", "Stopped"], "download a file from");
    const rel = this.#relative(r, remotePath);
    await authorize(this.deps.authorizer, this.deps.events, { agent_id: r.config.agent_id, action: "file.download", resource: `/workspace/${rel}` });
    const data = await this.#transfer(r, () => handle.readFile(rel, this.deps.config.max_file_bytes));
    await mkdir(dirname(localPath), { recursive: true });
    await writeFile(localPath, data);
    this.deps.events.emit("sandbox.file_transferred", { sandbox_id: sandboxId, agent_id: r.config.agent_id, direction: "download", path: `/workspace/${rel}`, bytes: data.length });
  }

  async #transfer<T>(r: SandboxRecord, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof SandboxError && err.code === "PATH_ESCAPE") this.#securityEvent(r.config.agent_id, "path_escape", err.message, r.id);
      if ((err as NodeJS.ErrnoException).code === "ENOENT") {
        throw new SandboxError("FILE_NOT_FOUND", `No such file in sandbox ${r.id}'s workspace`, { details: { sandbox_id: r.id }, cause: err });
      }
      throw wrapBackendError(err, "file transfer failed");
    }
  }

  async getSandboxUsage(sandboxId: SandboxId): Promise<SandboxUsage> {
    const r = this.#record(sandboxId);
    const handle = this.#requireState(r, ["Created", "Running", "Stopped"], "measure");
    try {
      const u = await handle.usage();
      return { sandbox_id: sandboxId, ...u, measured_at: this.deps.clock.now() };
    } catch (err) {
      throw wrapBackendError(err, "cannot measure the sandbox");
    }
  }

  updateSandboxLimits(sandboxId: SandboxId, limits: ResourceLimits): Promise<SandboxLimitUpdate> {
    this.#checkOpen();
    checkLimits(limits);
    const r = this.#record(sandboxId);
    return r.exclusive(async () => {
      const handle = this.#requireState(r, ["Created", "Running", "Stopped"], "change the limits of");
      let change;
      try {
        change = await handle.updateLimits(limits);
      } catch (err) {
        throw wrapBackendError(err, "cannot change the sandbox's limits");
      }
      r.setLimits(limits);
      const agent_id = r.config.agent_id;
      this.deps.events.emit("sandbox.limits_updated", { sandbox_id: sandboxId, agent_id, memory_mb: limits.memory_mb, cpu_cores: limits.cpu_cores, killed: change.killed });
      if (change.killed) this.#securityEvent(agent_id, "oom_killed", `memory limit lowered to ${limits.memory_mb} MiB below usage`, sandboxId);
      return { sandbox_id: sandboxId, killed: change.killed };
    });
  }

  /** Destroys every sandbox, then releases the backends. Idempotent. */
  shutdown(): Promise<void> {
    return (this.#shutdown ??= this.#doShutdown());
  }

  async #doShutdown(): Promise<void> {
    this.#closed = true;
    const live = [...this.#records.values()].filter((r) => r.state !== "Destroyed");
    const results = await Promise.allSettled(live.map((r) => this.destroySandbox(r.id)));
    for (const res of results) if (res.status === "rejected") this.deps.logger.error({ err: res.reason }, "sandbox not destroyed at shutdown");
    await Promise.allSettled([...this.#backends.values()].map((b) => b.close()));
  }
}

/** Keeps typed errors; anything else from a backend becomes SANDBOX_BACKEND_FAILED with the cause attached. */
function wrapBackendError(err: unknown, what: string): RuntimeError {
  if (err instanceof RuntimeError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new SandboxError("SANDBOX_BACKEND_FAILED", `${what}: ${message}`, { cause: err });
}

export interface CreateSandboxOrchestratorOptions {
  readonly config: SandboxSettings;
  /** The runtime's data dir; workspaces go to `<data_dir>/sandboxes` unless `config.workspace_root` is set. */
  readonly dataDir: string;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly events: EventStream;
  readonly authorizer: Authorizer;
  /** Replaces the built-in backends (one per tier). */
  readonly backends?: readonly SandboxBackend[];
}

/**
 * Builds the orchestrator with a backend per tier: Tier0 bubblewrap+cgroups, Tier1 Docker (runc), Tier2
 * Docker with gVisor (runsc), Tier3 microVM (QEMU microvm; Firecracker when sandbox.microvm.vmm says so). Tiers listed in `config.prepare_tiers` are probed now (and
 * their orphans removed, warm pools filled); the others on first use.
 *
 * @example
 * const sandboxes = await createSandboxOrchestrator({ config: config.sandbox, dataDir: config.data_dir, clock, logger, events, authorizer });
 * const id = await sandboxes.createSandbox({ agent_id, security_tier: "Tier0", ... });
 */
export async function createSandboxOrchestrator(options: CreateSandboxOrchestratorOptions): Promise<DefaultSandboxOrchestrator> {
  const { config, clock } = options;
  const workspaceRoot = resolve(config.workspace_root ?? join(options.dataDir, "sandboxes"));
  const backends = options.backends ?? [
    new ProcessBackend({ settings: config, workspaceRoot, clock }),
    new DockerBackend({ settings: config, workspaceRoot, clock, logger: options.logger, variant: "docker" }),
    new DockerBackend({ settings: config, workspaceRoot, clock, logger: options.logger, variant: "gvisor" }),
    // Tier3: the microVM backend with QEMU; with vmm "firecracker", the Firecracker check (which refuses
    // with TIER_UNAVAILABLE naming what is missing) — never a weaker tier.
    config.microvm.vmm === "firecracker"
      ? new FirecrackerBackend(config.firecracker)
      : new MicroVmBackend({ settings: config, workspaceRoot, clock, logger: options.logger }),
  ];
  const orchestrator = new DefaultSandboxOrchestrator({ ...options, backends });
  // The start-up log names Tier3's VMM choice; the accelerator actually used is logged when the tier is
  // prepared ("sandbox tier ready") and shown in each sandbox's status.
  options.logger.info(
    { tier: "Tier3", vmm: config.microvm.vmm, accel: config.microvm.vmm === "qemu" ? config.microvm.accel : "kvm", prepared_at_start: config.prepare_tiers.includes("Tier3") },
    "sandbox Tier3 microVM selection",
  );
  for (const tier of config.prepare_tiers) await orchestrator.prepareTier(tier);
  return orchestrator;
}
