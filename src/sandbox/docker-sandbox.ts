/**
 * One Tier1/Tier2 sandbox: a long-lived container, commands via the engine's exec API. A command that times
 * out is ended by killing every process of the sandbox user but the container's init (`kill -9 -1` from a
 * second exec): a container has no per-command boundary a process cannot leave (setsid, reparenting), so
 * this is the only kill that leaves no survivor. Under gVisor a memory overrun kills the whole sandbox kernel;
 * the container is then restarted so the sandbox stays usable (the workspace persists, /tmp does not).
 */
import { readFile } from "node:fs/promises";
import { PassThrough, type Duplex } from "node:stream";
import type Docker from "dockerode";
import type { Clock } from "../core/clock.js";
import type { Logger } from "../core/logger.js";
import type { ResourceLimits } from "../core/types.js";
import type { BackendExecRequest, BackendLimitChange, BackendSandbox, BackendSpawnRequest, BackendUsage } from "./backend.js";
import { detectCgroupLayout, existingCgroup, type SandboxCgroup } from "./cgroups.js";
import { CappedOutput, commandResult } from "./output.js";
import type { CommandResult, ProcessExit, SandboxProcess } from "./types.js";
import type { HostWorkspace } from "./workspace.js";

/** The host cgroup directories dockerd may put a container in (cgroupfs or systemd driver, v1 or v2). */
function cgroupDirs(containerId: string, controller: string): string[] {
  return [
    `/sys/fs/cgroup/${controller}/docker/${containerId}`,
    `/sys/fs/cgroup/${controller}/system.slice/docker-${containerId}.scope`,
    `/sys/fs/cgroup/docker/${containerId}`,
    `/sys/fs/cgroup/system.slice/docker-${containerId}.scope`,
  ];
}

async function readFirst(paths: string[]): Promise<string | undefined> {
  for (const p of paths) {
    const text = await readFile(p, "utf8").catch(() => undefined);
    if (text !== undefined) return text;
  }
  return undefined;
}

/**
 * The container's host cgroup, where runsc keeps the whole sandbox (its kernel and gofer): the engine cannot
 * update a runsc container, so gVisor's limits are changed here.
 */
function containerCgroup(containerId: string): SandboxCgroup | undefined {
  const layout = detectCgroupLayout();
  if (typeof layout === "string") return undefined;
  return existingCgroup(layout, [`docker/${containerId}`, `system.slice/docker-${containerId}.scope`]);
}

/** The container's OOM-kill count from its host memory cgroup (0 when it cannot be read). */
export async function containerOomKills(containerId: string): Promise<number> {
  const text = await readFirst([
    ...cgroupDirs(containerId, "memory").slice(0, 2).map((d) => `${d}/memory.oom_control`),
    ...cgroupDirs(containerId, "memory").slice(2).map((d) => `${d}/memory.events`),
  ]);
  const line = text?.split("\n").find((l) => l.startsWith("oom_kill "));
  return line ? Number(line.split(" ")[1]) : 0;
}

/** Host pids in the container's cgroup whose real uid is `uid` (runc only: runsc processes live in its kernel). */
async function hostPidsOfUser(containerId: string, uid: number): Promise<number[]> {
  const text = await readFirst(cgroupDirs(containerId, "pids").map((d) => `${d}/cgroup.procs`));
  const pids = (text ?? "").split("\n").filter(Boolean).map(Number);
  const mine: number[] = [];
  for (const pid of pids) {
    const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
    const m = /^Uid:\s+(\d+)/m.exec(status);
    if (m && Number(m[1]) === uid) mine.push(pid);
  }
  return mine;
}

export interface DockerContext {
  readonly docker: Docker;
  readonly user: string;
  /** runc: the container's processes are host processes we can signal directly. */
  readonly hostProcesses: boolean;
  readonly clock: Clock;
  readonly logger: Logger;
}

interface RunningExec {
  readonly stream: Duplex;
  readonly stdout: PassThrough;
  readonly stderr: PassThrough;
  /** Exit code once the process ended (or the container died). */
  readonly done: Promise<{ exit_code: number; container_died: boolean }>;
}

export class DockerSandbox implements BackendSandbox {
  #paused: boolean;
  #stopped = false;
  /** gVisor: limits changed after creation, held in the host cgroup (the engine's inspect does not show them). */
  #gvisorLimits: ResourceLimits | undefined;
  /** Resolves when the running container stops (set at each start). */
  #died: Promise<void> = new Promise(() => undefined);

  constructor(
    private readonly ctx: DockerContext,
    private readonly container: Docker.Container,
    private readonly workspace: HostWorkspace,
    state: { paused: boolean },
  ) {
    this.#paused = state.paused;
  }

  #watch(): void {
    this.#died = this.container.wait().then(
      () => undefined,
      () => undefined,
    );
  }

  async start(): Promise<void> {
    if (this.#paused) {
      await this.container.unpause();
      this.#paused = false;
    } else {
      await this.container.start();
    }
    this.#stopped = false;
    this.#watch();
    await this.#applyGvisorLimits();
  }

  async stop(): Promise<void> {
    // A process exit observed while stopping must not be mistaken for a crash that #recover restarts.
    this.#stopped = true;
    if (this.#paused) {
      await this.container.unpause();
      this.#paused = false;
    }
    const info = await this.container.inspect();
    if (info.State.Running) await this.container.kill({ signal: "SIGKILL" }).catch(() => undefined);
    await this.container.wait().catch(() => undefined);
  }

  async destroy(): Promise<void> {
    await this.container.remove({ force: true, v: true }).catch((err: { statusCode?: number }) => {
      if (err.statusCode !== 404) throw err;
    });
    await this.workspace.remove();
  }

  async #exec(cmd: string[], env: Readonly<Record<string, string>>, cwd: string, stdin: boolean): Promise<RunningExec> {
    try {
      return await this.#execOnce(cmd, env, cwd, stdin);
    } catch (err) {
      // The container died between commands (gVisor: its kernel was OOM-killed by a background process).
      if ((err as { statusCode?: number }).statusCode !== 409 || (await this.container.inspect()).State.Paused) throw err;
      this.ctx.logger.warn({ container: this.container.id }, "sandbox container found dead; restarting it");
      await this.#recover();
      return this.#execOnce(cmd, env, cwd, stdin);
    }
  }

  async #execOnce(cmd: string[], env: Readonly<Record<string, string>>, cwd: string, stdin: boolean): Promise<RunningExec> {
    const exec = await this.container.exec({
      Cmd: cmd,
      Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      WorkingDir: cwd,
      User: this.ctx.user,
      AttachStdin: stdin,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
    });
    const stream = (await exec.start({ hijack: true, stdin })) as Duplex;
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    this.ctx.docker.modem.demuxStream(stream, stdout, stderr);
    const ended = new Promise<void>((resolve) => {
      stream.once("end", resolve);
      stream.once("close", resolve);
      stream.once("error", () => resolve());
    });
    const done = Promise.race([
      ended.then(async () => {
        const info = await exec.inspect();
        stdout.end();
        stderr.end();
        return { exit_code: info.ExitCode ?? 137, container_died: false };
      }),
      this.#died.then(() => {
        stdout.end();
        stderr.end();
        stream.destroy();
        return { exit_code: 137, container_died: true };
      }),
    ]);
    return { stream, stdout, stderr, done };
  }

  /** Kills every process of the sandbox user (the container's init runs as another user and stays). */
  async #killAll(): Promise<void> {
    const uid = Number(this.ctx.user.split(":")[0]);
    if (this.ctx.hostProcesses) {
      // From the host: works even when a fork bomb leaves no room in the container for one more process.
      for (let round = 0; round < 100; round++) {
        const pids = await hostPidsOfUser(this.container.id, uid);
        if (pids.length === 0) return;
        for (const pid of pids) {
          try {
            process.kill(pid, "SIGKILL");
          } catch {
            // already gone
          }
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    try {
      const k = await this.#exec(["kill", "-9", "-1"], {}, "/", false);
      k.stdout.resume();
      k.stderr.resume();
      const deadline = new Promise<never>((_, reject) => setTimeout(() => reject(new Error("kill did not finish in 3 s")), 3000));
      await Promise.race([k.done, deadline]);
    } catch (err) {
      // No room for even one more process (a fork bomb at PidsLimit): restart the container instead.
      this.ctx.logger.warn({ err }, "could not kill the sandbox's processes; restarting the container");
      await this.container.kill({ signal: "SIGKILL" }).catch(() => undefined);
      await this.#died;
      await this.#recover();
    }
  }

  /**
   * Under gVisor a 137 can mean the sandbox kernel itself was killed (its memory limit covers the kernel);
   * the exec stream may end before the engine notices, so give it a moment to tell.
   */
  async #sandboxKernelDied(): Promise<boolean> {
    if (this.ctx.hostProcesses) return !(await this.container.inspect()).State.Running;
    const died = await Promise.race([this.#died.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 2000))]);
    return died || !(await this.container.inspect()).State.Running;
  }

  /** After the container died (gVisor OOM), start it again so the sandbox stays usable. */
  async #recover(): Promise<boolean> {
    // Let the engine record the exit first, so the restart below is not skipped for a dying container.
    await Promise.race([this.#died, new Promise((r) => setTimeout(r, 5000))]);
    const info = await this.container.inspect();
    if (!info.State.Running && !this.#stopped) {
      await this.container.start().catch((err: unknown) => this.ctx.logger.error({ err }, "sandbox container did not restart"));
      this.#watch();
      await this.#applyGvisorLimits().catch((err: unknown) => this.ctx.logger.error({ err }, "sandbox limits not reapplied after restart"));
    }
    return info.State.OOMKilled === true;
  }

  async exec(req: BackendExecRequest): Promise<CommandResult> {
    const clock = this.ctx.clock;
    const startedAt = clock.monotonic();
    const oomBefore = await containerOomKills(this.container.id);
    const run = await this.#exec([req.command, ...req.args], req.env, req.cwd, req.stdin !== undefined);
    const out = new CappedOutput(req.max_output_bytes);
    const err = new CappedOutput(req.max_output_bytes);
    run.stdout.on("data", (c: Buffer) => out.push(c));
    run.stderr.on("data", (c: Buffer) => err.push(c));
    if (req.stdin !== undefined) run.stream.end(Buffer.from(req.stdin));
    let timedOut = false;
    const timer = clock.setTimeout(() => {
      timedOut = true;
      void this.#killAll();
    }, req.timeout_ms);
    const onAbort = () => void this.#killAll();
    req.signal?.addEventListener("abort", onAbort, { once: true });
    const done = await run.done;
    clock.clearTimeout(timer);
    req.signal?.removeEventListener("abort", onAbort);
    let exit_code = done.exit_code;
    let oomKilled = false;
    // A dead sandbox kernel (gVisor: its limits cover the kernel too) ends the command as killed.
    if (done.container_died || (exit_code >= 128 && (await this.#sandboxKernelDied()))) {
      oomKilled = await this.#recover();
      exit_code = 137;
    } else if (exit_code === 137 && !timedOut) oomKilled = (await containerOomKills(this.container.id)) > oomBefore;
    return commandResult(out, err, { exit_code, duration_ms: clock.monotonic() - startedAt, timed_out: timedOut, oom_killed: oomKilled });
  }

  async spawn(req: BackendSpawnRequest): Promise<SandboxProcess> {
    const clock = this.ctx.clock;
    const oomBefore = await containerOomKills(this.container.id);
    // The shell records its pid so kill() can reach the process group it leads from a second exec.
    const script = 'echo $$ > /tmp/.symbiont-spawn-$SYMBIONT_SPAWN_ID; exec "$@"';
    const spawnId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
    const run = await this.#exec(["sh", "-c", script, "sh", req.command, ...req.args], { ...req.env, SYMBIONT_SPAWN_ID: spawnId }, req.cwd, true);
    let timedOut = false;
    const kill = async () => {
      const k = await this.#exec(["sh", "-c", `kill -9 $(cat /tmp/.symbiont-spawn-${spawnId}) 2>/dev/null; rm -f /tmp/.symbiont-spawn-${spawnId}`], {}, "/", false).catch(() => undefined);
      k?.stdout.resume();
      k?.stderr.resume();
      await k?.done;
    };
    const timer = req.timeout_ms > 0 ? clock.setTimeout(() => ((timedOut = true), void kill()), req.timeout_ms) : undefined;
    const exited = run.done.then(async ({ exit_code, container_died }): Promise<ProcessExit> => {
      clock.clearTimeout(timer);
      const oom = container_died ? await this.#recover() : exit_code === 137 && !timedOut && (await containerOomKills(this.container.id)) > oomBefore;
      return { exit_code, ...(exit_code > 128 ? { signal: exit_code === 137 ? "SIGKILL" : `signal ${exit_code - 128}` } : {}), timed_out: timedOut, oom_killed: oom };
    });
    const stdin = new PassThrough();
    stdin.pipe(run.stream);
    return { stdin, stdout: run.stdout, stderr: run.stderr, exited, kill: () => void kill() };
  }

  writeFile(relPath: string, data: Uint8Array): Promise<void> {
    return this.workspace.writeFile(relPath, data);
  }

  readFile(relPath: string, maxBytes: number): Promise<Uint8Array> {
    return this.workspace.readFile(relPath, maxBytes);
  }

  #limitBytes(info: Docker.ContainerInspectInfo): number {
    return this.#gvisorLimits ? this.#gvisorLimits.memory_mb * 1024 * 1024 : (info.HostConfig.Memory ?? 0);
  }

  async usage(): Promise<BackendUsage> {
    const info = await this.container.inspect();
    if (!info.State.Running) {
      return { memory_bytes: 0, memory_limit_bytes: this.#limitBytes(info), cpu_time_ms: 0, pids: 0 };
    }
    const stats = (await this.container.stats({ stream: false, "one-shot": true } as { stream: false })) as {
      memory_stats?: { usage?: number; limit?: number };
      cpu_stats?: { cpu_usage?: { total_usage?: number } };
      pids_stats?: { current?: number };
      blkio_stats?: { io_service_bytes_recursive?: { op: string; value: number }[] | null };
      networks?: Record<string, { rx_bytes?: number; tx_bytes?: number }>;
    };
    let ioRead = 0;
    let ioWrite = 0;
    for (const e of stats.blkio_stats?.io_service_bytes_recursive ?? []) {
      if (e.op.toLowerCase() === "read") ioRead += e.value;
      else if (e.op.toLowerCase() === "write") ioWrite += e.value;
    }
    // With --network none there is no interface: no traffic is possible, so zero is a measurement.
    const nets = Object.values(stats.networks ?? {});
    const noNetwork = info.HostConfig.NetworkMode === "none";
    const net =
      nets.length > 0 || noNetwork
        ? { net_rx_bytes: nets.reduce((n, x) => n + (x.rx_bytes ?? 0), 0), net_tx_bytes: nets.reduce((n, x) => n + (x.tx_bytes ?? 0), 0) }
        : {};
    return {
      memory_bytes: stats.memory_stats?.usage ?? 0,
      memory_limit_bytes: this.#limitBytes(info) || stats.memory_stats?.limit || 0,
      cpu_time_ms: (stats.cpu_stats?.cpu_usage?.total_usage ?? 0) / 1e6,
      pids: this.ctx.hostProcesses ? (stats.pids_stats?.current ?? 0) : await this.#guestPids(),
      ...(stats.blkio_stats?.io_service_bytes_recursive !== undefined ? { io_read_bytes: ioRead, io_write_bytes: ioWrite } : {}),
      ...net,
    };
  }

  /**
   * `docker update` of memory (swap equal) and cpu, live. Lowering memory below usage: on cgroup v2 the
   * kernel OOM-kills inside the update; on v1 the engine refuses (EBUSY), so the sandbox's processes are
   * killed and the update repeated. Under gVisor a kill of the sandbox kernel restarts the container.
   */
  async updateLimits(limits: ResourceLimits): Promise<BackendLimitChange> {
    if (!this.ctx.hostProcesses) return this.#updateGvisorLimits(limits);
    const memory = limits.memory_mb * 1024 * 1024;
    const update = { Memory: memory, MemorySwap: memory, NanoCpus: Math.round(limits.cpu_cores * 1e9) };
    const oomBefore = await containerOomKills(this.container.id);
    const wasRunning = (await this.container.inspect()).State.Running;
    let killed = false;
    try {
      await this.container.update(update);
    } catch (err) {
      // runc reports the kernel's EBUSY as "unable to set memory limit to N (current usage: M ...)".
      if (!/busy|unable to set memory limit/i.test((err as Error).message)) throw err;
      await this.#killAll();
      killed = true;
      await this.container.update(update);
    }
    if (!killed && (await containerOomKills(this.container.id)) > oomBefore) killed = true;
    if (wasRunning && !(await this.container.inspect()).State.Running) {
      await this.#recover();
      killed = true;
    }
    return { killed };
  }

  /**
   * gVisor: the limits are written to the container's host cgroup (the engine refuses `update` for runsc). A
   * memory limit below usage kills the sandbox kernel (v2: the kernel's OOM killer; v1: the cgroup module
   * kills it) and the container is restarted. The engine recreates the cgroup with the limits the container
   * was created with at every start, so the limits are kept and written again after each start.
   */
  async #updateGvisorLimits(limits: ResourceLimits): Promise<BackendLimitChange> {
    this.#gvisorLimits = limits;
    if (!(await this.container.inspect()).State.Running) return { killed: false };
    const change = await this.#applyGvisorLimits();
    if (!change.killed && (await this.container.inspect()).State.Running) return change;
    await this.#recover();
    return { killed: true };
  }

  async #applyGvisorLimits(): Promise<{ killed: boolean }> {
    const limits = this.#gvisorLimits;
    if (!limits || this.ctx.hostProcesses) return { killed: false };
    const cg = containerCgroup(this.container.id);
    if (!cg) throw new Error(`the host cgroup of container ${this.container.id} was not found; its limits cannot be changed`);
    const pids = (await this.container.inspect()).HostConfig.PidsLimit || 256;
    return cg.applyLimits({ memory_bytes: limits.memory_mb * 1024 * 1024, cpu_cores: limits.cpu_cores, pids });
  }

  /**
   * Processes inside a gVisor sandbox: the engine's pid count is the sandbox kernel's host threads, so ask
   * the guest's /proc (the glob is expanded by the shell itself: no extra process, minus the shell).
   */
  async #guestPids(): Promise<number> {
    const run = await this.#exec(["sh", "-c", "echo /proc/[0-9]*"], {}, "/", false);
    const out = new CappedOutput(1 << 20);
    run.stdout.on("data", (c: Buffer) => out.push(c));
    run.stderr.resume();
    await run.done;
    return Math.max(0, out.text().trim().split(/\s+/).filter(Boolean).length - 1);
  }
}
