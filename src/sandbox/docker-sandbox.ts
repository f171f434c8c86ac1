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
import type { BackendExecRequest, BackendSandbox, BackendSpawnRequest, BackendUsage } from "./backend.js";
import { CappedOutput } from "./output.js";
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
    this.#watch();
  }

  async stop(): Promise<void> {
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
    if (!info.State.Running) {
      await this.container.start().catch((err: unknown) => this.ctx.logger.error({ err }, "sandbox container did not restart"));
      this.#watch();
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
    return {
      exit_code,
      stdout: out.text(),
      stderr: err.text(),
      duration_ms: clock.monotonic() - startedAt,
      timed_out: timedOut,
      oom_killed: oomKilled,
      truncated: out.truncated || err.truncated,
    };
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

  async usage(): Promise<BackendUsage> {
    const info = await this.container.inspect();
    if (!info.State.Running) {
      return { memory_bytes: 0, memory_limit_bytes: info.HostConfig.Memory ?? 0, cpu_time_ms: 0, pids: 0 };
    }
    const stats = (await this.container.stats({ stream: false, "one-shot": true } as { stream: false })) as {
      memory_stats?: { usage?: number; limit?: number };
      cpu_stats?: { cpu_usage?: { total_usage?: number } };
      pids_stats?: { current?: number };
    };
    return {
      memory_bytes: stats.memory_stats?.usage ?? 0,
      memory_limit_bytes: info.HostConfig.Memory || stats.memory_stats?.limit || 0,
      cpu_time_ms: (stats.cpu_stats?.cpu_usage?.total_usage ?? 0) / 1e6,
      pids: this.ctx.hostProcesses ? (stats.pids_stats?.current ?? 0) : await this.#guestPids(),
    };
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
