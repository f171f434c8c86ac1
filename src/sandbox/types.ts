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
  readonly state: SandboxState;
  readonly created_at: number;
  readonly started_at?: number;
  readonly stopped_at?: number;
  readonly destroyed_at?: number;
  /** Why the sandbox is Failed. */
  readonly error?: string;
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

export interface SandboxOrchestrator {
  createSandbox(config: SandboxConfig): Promise<SandboxId>;
  startSandbox(sandboxId: SandboxId): Promise<void>;
  stopSandbox(sandboxId: SandboxId): Promise<void>;
  destroySandbox(sandboxId: SandboxId): Promise<void>;
  getSandboxStatus(sandboxId: SandboxId): Promise<SandboxStatus>;
  executeCommand(sandboxId: SandboxId, command: string, args: readonly string[], options?: ExecOptions): Promise<CommandResult>;
  uploadFile(sandboxId: SandboxId, localPath: string, remotePath: string): Promise<void>;
  downloadFile(sandboxId: SandboxId, remotePath: string, localPath: string): Promise<void>;
  listSandboxes(): Promise<SandboxStatus[]>;
  shutdown(): Promise<void>;
}
