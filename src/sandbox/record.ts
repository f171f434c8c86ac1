/**
 * The orchestrator's bookkeeping for one sandbox: status and timestamps, the backend handle, the long-lived
 * processes it runs, and a queue that makes start/stop/destroy of one sandbox run one at a time.
 * Also declares the sandbox events the orchestrator emits.
 */
import type { AgentId, SandboxId } from "../core/ids.js";
import type { ResourceLimits, SecurityTier } from "../core/types.js";
import type { BackendSandbox } from "./backend.js";
import type { ProcessExit, SandboxConfig, SandboxProcess, SandboxState, SandboxStatus } from "./types.js";

/** What a `sandbox.security_event` reports: an attempt that was blocked or a limit that was enforced. */
export type SandboxSecurityEventKind = "mount_denied" | "path_escape" | "oom_killed" | "timed_out" | "output_truncated";

declare module "../core/events.js" {
  interface RuntimeEventMap {
    "sandbox.created": { sandbox_id: SandboxId; agent_id: AgentId; tier: SecurityTier };
    "sandbox.state_changed": { sandbox_id: SandboxId; agent_id: AgentId; from: SandboxState; to: SandboxState; reason?: string };
    "sandbox.command_executed": {
      sandbox_id: SandboxId;
      agent_id: AgentId;
      command: string;
      exit_code: number;
      duration_ms: number;
      timed_out: boolean;
      oom_killed: boolean;
      truncated: boolean;
    };
    "sandbox.limits_updated": { sandbox_id: SandboxId; agent_id: AgentId; memory_mb: number; cpu_cores: number; killed: boolean };
    "sandbox.process_spawned": { sandbox_id: SandboxId; agent_id: AgentId; command: string };
    "sandbox.process_exited": { sandbox_id: SandboxId; agent_id: AgentId; command: string } & ProcessExit;
    "sandbox.file_transferred": {
      sandbox_id: SandboxId;
      agent_id: AgentId;
      direction: "upload" | "download";
      path: string;
      bytes: number;
    };
    "sandbox.security_event": { sandbox_id?: SandboxId; agent_id: AgentId; kind: SandboxSecurityEventKind; detail: string };
  }
}

export class SandboxRecord {
  #state: SandboxState = "Created";
  #started_at: number | undefined;
  #stopped_at: number | undefined;
  #destroyed_at: number | undefined;
  #error: string | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  readonly #processes = new Set<SandboxProcess>();
  #handle: BackendSandbox | undefined;

  #config: SandboxConfig;

  constructor(
    readonly id: SandboxId,
    config: SandboxConfig,
    handle: BackendSandbox,
    readonly created_at: number,
    readonly backend: string,
    readonly isolation?: string,
  ) {
    this.#config = config;
    this.#handle = handle;
  }

  get config(): SandboxConfig {
    return this.#config;
  }

  /** Records limits changed live (later commands use the new execution_timeout, messages the new memory). */
  setLimits(limits: ResourceLimits): void {
    this.#config = { ...this.#config, resource_limits: limits };
  }

  get state(): SandboxState {
    return this.#state;
  }

  /** The backend handle; gone once the sandbox is destroyed. */
  get handle(): BackendSandbox | undefined {
    return this.#handle;
  }

  setState(to: SandboxState, at: number, reason?: string): void {
    this.#state = to;
    if (to === "Running") this.#started_at = at;
    if (to === "Stopped") this.#stopped_at = at;
    if (to === "Destroyed") this.#destroyed_at = at;
    if (to === "Failed") this.#error = reason;
  }

  status(): SandboxStatus {
    return {
      id: this.id,
      agent_id: this.config.agent_id,
      tier: this.config.security_tier,
      backend: this.backend,
      state: this.#state,
      created_at: this.created_at,
      ...(this.#started_at !== undefined ? { started_at: this.#started_at } : {}),
      ...(this.#stopped_at !== undefined ? { stopped_at: this.#stopped_at } : {}),
      ...(this.#destroyed_at !== undefined ? { destroyed_at: this.#destroyed_at } : {}),
      ...(this.#error !== undefined ? { error: this.#error } : {}),
      ...(this.isolation !== undefined ? { isolation: this.isolation } : {}),
    };
  }

  /** Runs `fn` after every earlier lifecycle call on this sandbox has settled. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(fn, fn);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  track(proc: SandboxProcess): void {
    this.#processes.add(proc);
    void proc.exited.finally(() => this.#processes.delete(proc));
  }

  killProcesses(): void {
    for (const p of this.#processes) p.kill("SIGKILL");
  }

  release(): void {
    this.#handle = undefined;
    this.#processes.clear();
  }
}
