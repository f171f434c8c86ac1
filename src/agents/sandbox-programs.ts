/**
 * Agent programs in sandboxes: one sandbox per agent (created on first use, at the agent's security tier,
 * network off), and in it either a fresh process per task or one long-lived process per persistent agent.
 * Every process this class starts is reaped: on answer it is asked to shut down and killed after a grace
 * period; on timeout or cancel it is killed at once and waited for.
 */
import type { Clock } from "../core/clock.js";
import { ResourceError, SandboxError, SchedulerError, isRuntimeError, type RuntimeError } from "../core/errors.js";
import type { EventStream } from "../core/events.js";
import type { AgentId, SandboxId } from "../core/ids.js";
import type { Logger } from "../core/logger.js";
import type { AgentInstance, Message, ResourceUsage } from "../core/types.js";
import type { ProcessExit, SandboxOrchestrator, SandboxProcess, SandboxUsage } from "../sandbox/types.js";
import type { ScheduledTask } from "../scheduler/types.js";
import "./events.js";
import { AgentSession, type SessionHandlers } from "./session.js";

export interface SandboxProgramsDeps {
  readonly sandbox: SandboxOrchestrator;
  readonly clock: Clock;
  readonly events: EventStream;
  readonly logger: Logger;
  readonly maxLineLength: number;
  /** How long a process asked to shut down gets before it is killed, ms. */
  readonly shutdownGraceMs: number;
  /** The protocol handlers (send, subscribe, log...) for an agent's session. */
  readonly handlersFor: (agentId: AgentId) => SessionHandlers;
  /** A persistent agent's process died on its own. `busy` says whether tasks were waiting on it. */
  readonly onCrash: (agentId: AgentId, error: RuntimeError, busy: boolean) => void;
}

interface Persistent {
  readonly proc: SandboxProcess;
  readonly session: AgentSession;
  stopping: boolean;
  /** Tasks handed to this process and not yet settled (their failures reach the error handler themselves). */
  tasks: number;
}

export class SandboxPrograms {
  readonly #deps: SandboxProgramsDeps;
  readonly #sandboxes = new Map<AgentId, Promise<SandboxId>>();
  readonly #persistent = new Map<AgentId, Promise<Persistent>>();
  readonly #live = new Set<SandboxProcess>();
  /** The last two usage readings per agent's sandbox (CPU use is the rate between them). */
  readonly #usage = new Map<AgentId, { last: SandboxUsage; usage: ResourceUsage }>();
  #sampling: Promise<void> | undefined;
  /** Persistent agents whose process has been started at least once (a restart starts it again). */
  readonly #started = new Set<AgentId>();

  constructor(deps: SandboxProgramsDeps) {
    this.#deps = deps;
  }

  /** Processes alive right now (ephemeral and persistent). */
  get liveProcesses(): number {
    return this.#live.size;
  }

  get persistentCount(): number {
    return this.#persistent.size;
  }

  ensureSandbox(agent: AgentInstance): Promise<SandboxId> {
    let p = this.#sandboxes.get(agent.id);
    if (!p) {
      const { sandbox } = this.#deps;
      p = (async () => {
        const id = await sandbox.createSandbox({
          agent_id: agent.id,
          security_tier: agent.config.security_tier,
          resource_limits: agent.config.resource_limits,
          network_config: { enabled: false },
          filesystem_config: { mounts: [] },
          environment_variables: {},
        });
        await sandbox.startSandbox(id);
        return id;
      })();
      this.#sandboxes.set(agent.id, p);
      p.catch(() => this.#sandboxes.delete(agent.id));
    }
    return p;
  }

  /** Reads every agent sandbox's measured usage (cgroup / engine stats); concurrent calls share one round. */
  sample(): Promise<void> {
    this.#sampling ??= this.#sampleAll().finally(() => (this.#sampling = undefined));
    return this.#sampling;
  }

  async #sampleAll(): Promise<void> {
    await Promise.all(
      [...this.#sandboxes].map(async ([agentId, p]) => {
        try {
          const u = await this.#deps.sandbox.getSandboxUsage(await p);
          const prev = this.#usage.get(agentId)?.last;
          const span = prev ? u.measured_at - prev.measured_at : 0;
          const cpu = prev && span > 0 ? Math.max(0, (u.cpu_time_ms - prev.cpu_time_ms) / span) : 0;
          this.#usage.set(agentId, {
            last: u,
            usage: { memory_used: u.memory_bytes, cpu_usage: cpu, disk_io_rate: 0, network_io_rate: 0, uptime: 0 },
          });
        } catch {
          this.#usage.delete(agentId);
        }
      }),
    );
  }

  /** The agent's last measured usage, if its sandbox has been sampled. */
  usage(agentId: AgentId): ResourceUsage | undefined {
    return this.#usage.get(agentId)?.usage;
  }

  /** Stops the agent's processes and destroys its sandbox. */
  async destroy(agentId: AgentId): Promise<void> {
    this.#started.delete(agentId);
    this.#usage.delete(agentId);
    await this.stopPersistent(agentId);
    const p = this.#sandboxes.get(agentId);
    if (!p) return;
    this.#sandboxes.delete(agentId);
    const id = await p.catch(() => undefined);
    if (id) await this.#deps.sandbox.destroySandbox(id);
  }

  /**
   * A fresh process for one task: queued messages first (taken from `takeInbox` only once the process runs,
   * so a failed start loses none), then the task; killed on abort.
   */
  async runEphemeral(agent: AgentInstance, task: ScheduledTask, signal: AbortSignal, takeInbox: () => readonly Message[]): Promise<unknown> {
    const entry = agent.config.entrypoint;
    if (!entry) throw new SchedulerError("AGENT_NOT_RUNNABLE", `Agent ${agent.id} has no entrypoint`, { details: { agent_id: agent.id } });
    const sandboxId = await this.ensureSandbox(agent);
    signal.throwIfAborted();
    // The orchestrator's own limit backs up the scheduler's timeout.
    const proc = await this.#spawn(agent.id, sandboxId, entry.command, entry.args, task.timeout + this.#deps.shutdownGraceMs);
    const session = this.#session(agent.id, proc);
    const kill = () => proc.kill("SIGKILL");
    signal.addEventListener("abort", kill, { once: true });
    try {
      if (signal.aborted) throw signal.reason;
      for (const m of takeInbox()) session.deliver(m);
      return await this.#answer(session, proc, task, signal);
    } finally {
      signal.removeEventListener("abort", kill);
      session.shutdown();
      await this.#reap(proc);
    }
  }

  /** Hands the task to the agent's long-lived process (started if needed). Abort kills the process. */
  async runPersistent(agent: AgentInstance, task: ScheduledTask, signal: AbortSignal): Promise<unknown> {
    const p = await this.#persistentFor(agent);
    signal.throwIfAborted();
    const kill = () => {
      // The protocol has no per-task cancel: a task that must stop takes its process with it. The process is
      // started again on the next task or message.
      p.stopping = true;
      p.session.close(new SchedulerError("AGENT_PROCESS_EXITED", `The agent's process was killed to stop task ${task.id}`));
      p.proc.kill("SIGKILL");
    };
    signal.addEventListener("abort", kill, { once: true });
    p.tasks++;
    try {
      return await this.#answer(p.session, p.proc, task, signal);
    } finally {
      p.tasks--;
      signal.removeEventListener("abort", kill);
      if (signal.aborted) await p.proc.exited;
    }
  }

  async deliverPersistent(agent: AgentInstance, message: Message): Promise<void> {
    (await this.#persistentFor(agent)).session.deliver(message);
  }

  /** Whether the agent's long-lived process has ever been started (and so should run again after a restart). */
  wasStarted(agentId: AgentId): boolean {
    return this.#started.has(agentId);
  }

  /** Starts the agent's long-lived process if it is not running. */
  async startPersistent(agent: AgentInstance): Promise<void> {
    await this.#persistentFor(agent);
  }

  /** Asks the agent's long-lived process to exit; kills it after the grace period. */
  async stopPersistent(agentId: AgentId): Promise<void> {
    const pp = this.#persistent.get(agentId);
    if (!pp) return;
    this.#persistent.delete(agentId);
    const p = await pp.catch(() => undefined);
    if (!p) return;
    p.stopping = true;
    p.session.shutdown();
    await this.#reap(p.proc);
    p.session.close(new SchedulerError("AGENT_PROCESS_EXITED", "The agent's process was stopped"));
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.#sandboxes.keys()].map((id) => this.destroy(id)));
    for (const proc of this.#live) proc.kill("SIGKILL");
    await Promise.allSettled([...this.#live].map((p) => p.exited));
  }

  // ---- internals ----

  async #spawn(agentId: AgentId, sandboxId: SandboxId, command: string, args: readonly string[], timeout?: number): Promise<SandboxProcess> {
    const proc = await this.#deps.sandbox.spawnProcess(sandboxId, command, args, timeout !== undefined ? { timeout_ms: timeout } : {});
    this.#live.add(proc);
    this.#deps.events.emit("agent.process_started", { agent_id: agentId, sandbox_id: sandboxId });
    this.#drainStderr(agentId, proc);
    void proc.exited.then(
      (exit) => {
        this.#live.delete(proc);
        this.#deps.events.emit("agent.process_exited", {
          agent_id: agentId,
          exit_code: exit.exit_code,
          ...(exit.signal ? { signal: exit.signal } : {}),
          timed_out: exit.timed_out,
          oom_killed: exit.oom_killed,
        });
      },
      () => this.#live.delete(proc),
    );
    return proc;
  }

  #session(agentId: AgentId, proc: SandboxProcess): AgentSession {
    return new AgentSession({ input: proc.stdout, output: proc.stdin }, this.#deps.handlersFor(agentId), {
      maxLineLength: this.#deps.maxLineLength,
    });
  }

  /** The task's answer, or the reason there is none (abort, exit with its cause, agent error). */
  async #answer(session: AgentSession, proc: SandboxProcess, task: ScheduledTask, signal: AbortSignal): Promise<unknown> {
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
    });
    aborted.catch(() => undefined);
    try {
      return await Promise.race([session.runTask(task.id, task.input), aborted]);
    } catch (err) {
      session.abandon(task.id);
      if (signal.aborted) throw signal.reason;
      if (isRuntimeError(err) && err.details?.reason === "output ended") {
        throw exitError(await proc.exited, task);
      }
      throw err;
    } finally {
      if (onAbort) signal.removeEventListener("abort", onAbort);
    }
  }

  #persistentFor(agent: AgentInstance): Promise<Persistent> {
    const existing = this.#persistent.get(agent.id);
    if (existing) return existing;
    const entry = agent.config.entrypoint;
    if (!entry) return Promise.reject(new SchedulerError("AGENT_NOT_RUNNABLE", `Agent ${agent.id} has no entrypoint`, { details: { agent_id: agent.id } }));
    this.#started.add(agent.id);
    const p = (async (): Promise<Persistent> => {
      const sandboxId = await this.ensureSandbox(agent);
      const proc = await this.#spawn(agent.id, sandboxId, entry.command, entry.args);
      const rec: Persistent = { proc, session: this.#session(agent.id, proc), stopping: false, tasks: 0 };
      void proc.exited.then((exit) => {
        if (this.#persistent.get(agent.id) === p) this.#persistent.delete(agent.id);
        if (rec.stopping) return;
        const err = exitError(exit);
        const busy = rec.tasks > 0;
        rec.session.close(err);
        this.#deps.onCrash(agent.id, err, busy);
      });
      return rec;
    })();
    this.#persistent.set(agent.id, p);
    p.catch(() => {
      if (this.#persistent.get(agent.id) === p) this.#persistent.delete(agent.id);
    });
    return p;
  }

  /** Waits up to the grace period for the process to exit, then kills it and waits for that. */
  async #reap(proc: SandboxProcess): Promise<ProcessExit> {
    let timer: ReturnType<Clock["setTimeout"]> | undefined;
    const graceOver = new Promise<"kill">((resolve) => {
      timer = this.#deps.clock.setTimeout(() => resolve("kill"), this.#deps.shutdownGraceMs);
    });
    const first = await Promise.race([proc.exited, graceOver]);
    this.#deps.clock.clearTimeout(timer);
    if (first !== "kill") return first;
    proc.kill("SIGKILL");
    return proc.exited;
  }

  #drainStderr(agentId: AgentId, proc: SandboxProcess): void {
    let logged = 0;
    proc.stderr.setEncoding("utf8");
    proc.stderr.on("data", (chunk: string) => {
      // Always read (a full pipe would block the agent); log only the first 64 KiB.
      if (logged >= 65_536) return;
      logged += chunk.length;
      this.#deps.logger.debug({ agent_id: agentId, stderr: chunk.slice(0, 4096) }, "agent stderr");
    });
    proc.stderr.on("error", () => undefined);
  }
}

/** What a process ending without an answer means. */
export function exitError(exit: ProcessExit, task?: ScheduledTask): RuntimeError {
  const details = { exit_code: exit.exit_code, ...(exit.signal ? { signal: exit.signal } : {}), ...(task ? { task_id: task.id } : {}) };
  if (exit.oom_killed) {
    return new ResourceError("USAGE_EXCEEDED", "The agent's process was killed for exceeding its memory limit", {
      details: { ...details, resource: "memory" },
    });
  }
  if (exit.timed_out) {
    return new SchedulerError("TASK_TIMEOUT", "The agent's process exceeded its time limit and was killed", { details });
  }
  return new SchedulerError(
    "AGENT_PROCESS_EXITED",
    `The agent's process exited (${exit.signal ? `signal ${exit.signal}` : `code ${exit.exit_code}`}) without answering`,
    { details },
  );
}

export function noSandbox(): SandboxError {
  return new SandboxError("TIER_UNAVAILABLE", "This agent runs a program (entrypoint) but no sandbox orchestrator is configured", {
    details: { reason: "no sandbox orchestrator" },
  });
}
