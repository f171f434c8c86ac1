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

/** The host cgroup file holding a container's OOM-kill count, for the layouts dockerd uses. */
export async function containerOomKills(containerId: string): Promise<number> {
  const candidates = [
    [`/sys/fs/cgroup/memory/docker/${containerId}/memory.oom_control`, "oom_kill"],
    [`/sys/fs/cgroup/memory/system.slice/docker-${containerId}.scope/memory.oom_control`, "oom_kill"],
    [`/sys/fs/cgroup/docker/${containerId}/memory.events`, "oom_kill"],
    [`/sys/fs/cgroup/system.slice/docker-${containerId}.scope/memory.events`, "oom_kill"],
  ] as const;
  for (const [path, key] of candidates) {
    const text = await readFile(path, "utf8").catch(() => undefined);
    if (text === undefined) continue;
    const line = text.split("\n").find((l) => l.startsWith(`${key} `));
    return line ? Number(line.split(" ")[1]) : 0;
  }
  return 0;
}

export interface DockerContext {
  readonly docker: Docker;
  readonly user: string;
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

  /** Kills every process of the sandbox user except init. */
  async #killAll(): Promise<void> {
    try {
      const k = await this.#exec(["kill", "-9", "-1"], {}, "/", false);
      k.stdout.resume();
      k.stderr.resume();
      await k.done;
    } catch (err) {
      // No room for even one more process (a fork bomb at PidsLimit): restart the container instead.
      this.ctx.logger.warn({ err }, "could not kill the sandbox's processes; restarting the container");
      await this.container.kill({ signal: "SIGKILL" }).catch(() => undefined);
      await this.#died;
      await this.#recover();
    }
  }

  /** After the container died (gVisor OOM), start it again so the sandbox stays usable. */
  async #recover(): Promise<boolean> {
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
    const { exit_code, container_died } = await run.done;
    clock.clearTimeout(timer);
    req.signal?.removeEventListener("abort", onAbort);
    let oomKilled = false;
    if (container_died) oomKilled = await this.#recover();
    else if (exit_code === 137 && !timedOut) oomKilled = (await containerOomKills(this.container.id)) > oomBefore;
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
      pids: stats.pids_stats?.current ?? 0,
    };
  }
}
