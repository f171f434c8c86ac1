/**
 * The SandboxOrchestrator contract (the spec's eight methods) and its data types. One orchestrator routes each
 * sandbox to the backend of its security tier; backends implement `SandboxBackend`.
 */
import type { AgentId, SandboxId } from "../core/ids.js";
import type { ResourceLimits, SecurityTier } from "../core/types.js";

export interface NetworkConfig {
  /** Off unless set (and allowed by policy). */
  readonly enabled: boolean;
}

export interface MountSpec {
  readonly host_path: string;
  readonly sandbox_path: string;
  readonly read_only: boolean;
}

export interface FilesystemConfig {
  /** Extra host paths to expose; each must be on the orchestrator's allowlist. */
  readonly mounts: readonly MountSpec[];
  /** Cap on the workspace size, bytes. */
  readonly workspace_size_bytes?: number;
}

export interface SandboxConfig {
  readonly agent_id: AgentId;
  readonly security_tier: SecurityTier;
  readonly resource_limits: ResourceLimits;
  readonly network_config: NetworkConfig;
  readonly filesystem_config: FilesystemConfig;
  readonly environment_variables: Readonly<Record<string, string>>;
}

export type SandboxState = "Created" | "Starting" | "Running" | "Stopped" | "Destroyed" | "Failed";

export interface SandboxStatus {
  readonly id: SandboxId;
  readonly agent_id: AgentId;
  readonly tier: SecurityTier;
  /** The backend isolating it (`process`, `docker`, `gvisor`, `microvm`, ...). */
  readonly backend: string;
  readonly state: SandboxState;
  readonly created_at: number;
  readonly started_at?: number;
  readonly stopped_at?: number;
  readonly destroyed_at?: number;
  /** Why the sandbox is Failed. */
  readonly error?: string;
  /** How the tier isolates this sandbox on this host when that varies, e.g. "microvm: qemu 7.2 microvm, accel tcg (...)". */
  readonly isolation?: string;
}

export interface CommandResult {
  readonly exit_code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly duration_ms: number;
  readonly timed_out: boolean;
  readonly oom_killed: boolean;
  /** stdout or stderr exceeded its cap and was cut. */
  readonly truncated: boolean;
}

export interface ExecOptions {
  /** Overrides the sandbox's execution_timeout for this command, ms. */
  readonly timeout_ms?: number;
  /** Bytes written to the command's stdin. */
  readonly stdin?: string | Uint8Array;
  readonly env?: Readonly<Record<string, string>>;
  /** Working directory inside the sandbox (default /workspace). */
  readonly cwd?: string;
  readonly signal?: AbortSignal;
}

/** How a long-lived process in a sandbox ended. */
export interface ProcessExit {
  readonly exit_code: number;
  /** The signal that ended it, when one did. */
  readonly signal?: string;
  readonly timed_out: boolean;
  readonly oom_killed: boolean;
}

export interface SpawnOptions {
  /** Kill the process after this long, ms (default: no limit beyond the sandbox's own). */
  readonly timeout_ms?: number;
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
}

/**
 * A long-lived process inside a sandbox with its standard streams attached (persistent agents speak the
 * JSON-lines agent protocol over these). The sandbox's limits apply to it as to any command.
 */
export interface SandboxProcess {
  readonly stdin: NodeJS.WritableStream;
  readonly stdout: NodeJS.ReadableStream;
  readonly stderr: NodeJS.ReadableStream;
  readonly exited: Promise<ProcessExit>;
  kill(signal?: NodeJS.Signals): void;
}

/** Measured resource use of one sandbox, read from its cgroup (Tier0) or the engine's stats (Tier1/2). */
export interface SandboxUsage {
  readonly sandbox_id: SandboxId;
  /** Memory charged to the sandbox now, bytes. */
  readonly memory_bytes: number;
  /** The memory limit in force, bytes. */
  readonly memory_limit_bytes: number;
  /** CPU time consumed since the sandbox was created, ms. */
  readonly cpu_time_ms: number;
  /** Processes (and threads) alive in the sandbox now. */
  readonly pids: number;
  /** Cumulative block io since creation, bytes; absent when the tier cannot account it. */
  readonly io_read_bytes?: number;
  readonly io_write_bytes?: number;
  /** Cumulative network traffic since creation, bytes; absent when the tier cannot account it. */
  readonly net_rx_bytes?: number;
  readonly net_tx_bytes?: number;
  /** When the reading was taken, epoch ms. */
  readonly measured_at: number;
}

/** Narrows `listSandboxes`. */
export interface SandboxFilter {
  /** Only this agent's sandboxes. */
  readonly agent_id?: AgentId;
}

/** The result of `updateSandboxLimits`. */
export interface SandboxLimitUpdate {
  readonly sandbox_id: SandboxId;
  /** The new memory limit was below usage: processes were killed (v2: by the kernel's OOM killer). */
  readonly killed: boolean;
}

export interface SandboxOrchestrator {
  createSandbox(config: SandboxConfig): Promise<SandboxId>;
  startSandbox(sandboxId: SandboxId): Promise<void>;
  stopSandbox(sandboxId: SandboxId): Promise<void>;
  destroySandbox(sandboxId: SandboxId): Promise<void>;
  getSandboxStatus(sandboxId: SandboxId): Promise<SandboxStatus>;
  executeCommand(sandboxId: SandboxId, command: string, args: readonly string[], options?: ExecOptions): Promise<CommandResult>;
  /** Starts a long-lived process with attached streams (for persistent agents). */
  spawnProcess(sandboxId: SandboxId, command: string, args: readonly string[], options?: SpawnOptions): Promise<SandboxProcess>;
  uploadFile(sandboxId: SandboxId, localPath: string, remotePath: string): Promise<void>;
  downloadFile(sandboxId: SandboxId, remotePath: string, localPath: string): Promise<void>;
  /** Sandboxes not yet destroyed, optionally only one agent's. */
  listSandboxes(filter?: SandboxFilter): Promise<SandboxStatus[]>;
  /** Measured usage of a Created, Running or Stopped sandbox. */
  getSandboxUsage(sandboxId: SandboxId): Promise<SandboxUsage>;
  /**
   * Applies new limits to a live sandbox (Created, Running or Stopped): later commands and every running
   * process are held to them at once. Lowering memory below usage kills and reports `killed`.
   */
  updateSandboxLimits(sandboxId: SandboxId, limits: ResourceLimits): Promise<SandboxLimitUpdate>;
  shutdown(): Promise<void>;
}
