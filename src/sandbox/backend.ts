/**
 * The small interface each isolation tier implements. The orchestrator owns everything tier-independent
 * (status machine, validation of mounts/env/paths, authorization, events); a backend owns only the mechanics
 * of one isolation technology and the host resources it creates (cgroups, containers, VMs, workspaces), and
 * releases them in `destroy`/`close`. A backend never falls back to another technology: when it cannot run
 * on this host, `prepare` returns the missing pieces and the orchestrator refuses with TIER_UNAVAILABLE.
 */
import type { SandboxId } from "../core/ids.js";
import type { ResourceLimits, SecurityTier } from "../core/types.js";
import type { CommandResult, MountSpec, SandboxProcess } from "./types.js";

/** Whether a tier can run here; when not, every missing piece and how to provide it. */
export type TierAvailability =
  | { readonly available: true }
  | { readonly available: false; readonly missing: readonly string[]; readonly howto: string };

/** What a backend needs to build one sandbox; already validated and authorized by the orchestrator. */
export interface BackendSandboxSpec {
  readonly id: SandboxId;
  readonly limits: ResourceLimits;
  readonly pids_limit: number;
  readonly network: boolean;
  /** Checked against the forbidden list and the allowlist. */
  readonly mounts: readonly MountSpec[];
  /** The sandbox's configured environment (names validated). */
  readonly env: Readonly<Record<string, string>>;
}

/** One command, with everything resolved: env merged, timeout and caps decided. */
export interface BackendExecRequest {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  readonly timeout_ms: number;
  readonly max_output_bytes: number;
  readonly stdin?: Uint8Array;
  readonly signal?: AbortSignal;
}

export interface BackendSpawnRequest {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  /** 0 = no limit beyond the sandbox's own. */
  readonly timeout_ms: number;
}

export interface BackendUsage {
  readonly memory_bytes: number;
  readonly memory_limit_bytes: number;
  readonly cpu_time_ms: number;
  readonly pids: number;
}

/** One sandbox as a backend sees it. The orchestrator calls these only in a status that allows them. */
export interface BackendSandbox {
  start(): Promise<void>;
  /** Kills every process of the sandbox; the sandbox can be started again. */
  stop(): Promise<void>;
  /** Kills everything and removes every host resource (container, cgroup, workspace). Idempotent. */
  destroy(): Promise<void>;
  exec(request: BackendExecRequest): Promise<CommandResult>;
  spawn(request: BackendSpawnRequest): Promise<SandboxProcess>;
  /**
   * Writes `data` at `relPath` (relative to the workspace, already free of `..`). Throws PATH_ESCAPE when a
   * component of the path is a symlink or otherwise resolves outside the workspace.
   */
  writeFile(relPath: string, data: Uint8Array): Promise<void>;
  /** Reads `relPath` (same rules as writeFile); FILE_TOO_LARGE beyond `maxBytes`. */
  readFile(relPath: string, maxBytes: number): Promise<Uint8Array>;
  usage(): Promise<BackendUsage>;
}

export interface SandboxBackend {
  readonly tier: SecurityTier;
  /** Short name used in messages and tests: `process`, `docker`, `gvisor`, `firecracker`. */
  readonly name: string;
  /** Probes the host once (later calls reuse the answer) and does start-up work such as orphan clean-up. */
  prepare(): Promise<TierAvailability>;
  create(spec: BackendSandboxSpec): Promise<BackendSandbox>;
  /** Resolves once pre-created resources (a warm pool) are ready; backends without any omit it. */
  warm?(): Promise<void>;
  /** Releases pooled resources; sandboxes were destroyed by the orchestrator first. Idempotent. */
  close(): Promise<void>;
}
