/**
 * What the engine decides when no policy speaks. Security-sensitive operations are closed: network access,
 * host mounts, files outside the sandbox workspace, a lower security tier than the agent's, and the Network
 * capability below `network_min_tier`. They need an explicit allow; everything else gets `default_effect`.
 */
import { posix } from "node:path";
import { SECURITY_TIER_RANK, type SecurityTier } from "../core/types.js";
import { tierRank, type EvalInput } from "./input.js";

export interface SensitivityOptions {
  /** The sandbox workspace: file operations under it are ordinary. */
  readonly workspaceRoot: string;
  readonly networkMinTier: SecurityTier;
}

function outsideWorkspace(path: string, root: string): boolean {
  const resolved = posix.resolve(root, path);
  return resolved !== root && !resolved.startsWith(root.endsWith("/") ? root : `${root}/`);
}

function filePath(input: EvalInput): string | null {
  const c = input.context;
  if (input.resource !== null) {
    // Enforcement points may write "<sandbox id>:<path>"; the path is what matters.
    const colon = input.resource.indexOf(":/");
    return colon > 0 ? input.resource.slice(colon + 1) : input.resource;
  }
  for (const k of ["path", "remote_path", "sandbox_path"]) if (typeof c[k] === "string") return c[k];
  return null;
}

/** Why `input` is security-sensitive, or null when it is not. */
export function sensitiveReason(input: EvalInput, opts: SensitivityOptions): string | null {
  const a = input.action;
  const c = input.context;
  if (a === "sandbox.network") return "network access is security-sensitive and no policy allows it";
  if (a === "sandbox.mount") return "host mounts are security-sensitive and no policy allows them";
  if (a === "sandbox.create") {
    // The sandbox's settings may sit in the context itself or in a SandboxConfig under `config`/`sandbox_config`.
    const sc = (typeof c.sandbox_config === "object" && c.sandbox_config) || (typeof c.config === "object" && c.config) || {};
    const s = { ...(sc as Record<string, unknown>), ...c };
    const net = s.network_config as { enabled?: unknown } | undefined;
    if (s.network === true || net?.enabled === true) return "a sandbox with network access needs an explicit allow";
    const fs = s.filesystem_config as { mounts?: unknown } | undefined;
    const mounts = Array.isArray(s.mounts) ? s.mounts : Array.isArray(fs?.mounts) ? fs.mounts : [];
    if (mounts.length > 0) return "a sandbox with host mounts needs an explicit allow";
    const requested = tierRank(s.tier ?? s.security_tier);
    if (requested !== null && input.tier !== null && requested < input.tier) return "a sandbox below the agent's security tier is a tier downgrade";
  }
  if (a.startsWith("file.")) {
    const path = filePath(input);
    if (path === null) return "a file operation without a path cannot be shown to stay in the workspace";
    if (outsideWorkspace(path, opts.workspaceRoot)) return `${path} is outside the workspace ${opts.workspaceRoot}`;
  }
  if (a === "agent.update") {
    const previous = tierRank(c.previous_tier);
    if (previous !== null && input.tier !== null && input.tier < previous) return "lowering an agent's security tier is a tier downgrade";
  }
  if (a === "capability.use" && input.resource === "Network" && (input.tier ?? -1) < SECURITY_TIER_RANK[opts.networkMinTier]) {
    return `the Network capability needs ${opts.networkMinTier} or higher unless a policy allows it`;
  }
  return null;
}
