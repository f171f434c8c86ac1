/**
 * Checks every tier shares, done by the orchestrator before a backend sees a request: mounts against the
 * forbidden list and the allowlist, environment variable names, resource limits, and workspace paths.
 */
import { realpathSync } from "node:fs";
import { posix } from "node:path";
import { SandboxError } from "../core/errors.js";
import type { ResourceLimits } from "../core/types.js";
import type { MountSpec } from "./types.js";

/** Host paths no sandbox may see, whatever the allowlist says (nor any path containing one of them). */
export const FORBIDDEN_HOST_PATHS = [
  "/",
  "/etc",
  "/proc",
  "/sys",
  "/dev",
  "/boot",
  "/root",
  "/var/run/docker.sock",
  "/run/docker.sock",
  "/var/run/docker",
  "/run/containerd",
  "/var/lib/docker",
] as const;

/** Sandbox paths a mount may not cover: the system paths every tier sets up itself. */
const RESERVED_SANDBOX_PATHS = ["/", "/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc", "/proc", "/sys", "/dev", "/tmp", "/workspace"];

function denied(mount: MountSpec, reason: string): SandboxError {
  return new SandboxError("MOUNT_DENIED", `Mount of "${mount.host_path}" denied: ${reason}`, {
    details: { host_path: mount.host_path, sandbox_path: mount.sandbox_path, reason },
  });
}

function within(path: string, prefix: string): boolean {
  return prefix === "/" ? true : path === prefix || path.startsWith(`${prefix}/`);
}

function checkShape(mount: MountSpec, path: string, which: string): void {
  if (!path.startsWith("/")) throw denied(mount, `${which} must be absolute`);
  if (path.split("/").some((p) => p === ".." || p === ".")) throw denied(mount, `${which} contains ".." or "."`);
  if (path.includes("\0")) throw denied(mount, `${which} contains a NUL byte`);
}

function forbidden(path: string): string | undefined {
  // A forbidden path itself, anything inside one, or a parent that would expose one.
  return FORBIDDEN_HOST_PATHS.find((f) => within(path, f) && f !== "/") ?? FORBIDDEN_HOST_PATHS.find((f) => path === f || within(f, path));
}

/**
 * Returns the mount with its host path resolved (symlinks followed, so a link from an allowed folder to
 * /etc is caught), or throws MOUNT_DENIED naming why.
 */
export function checkMount(mount: MountSpec, allowlist: readonly string[]): MountSpec {
  checkShape(mount, mount.host_path, "host_path");
  checkShape(mount, mount.sandbox_path, "sandbox_path");
  const normalized = posix.normalize(mount.host_path).replace(/(.)\/$/, "$1");
  const hit = forbidden(normalized);
  if (hit) throw denied(mount, `${hit} is never mounted into a sandbox`);
  let real: string;
  try {
    real = realpathSync(normalized);
  } catch {
    throw denied(mount, "the host path does not exist");
  }
  const realHit = forbidden(real);
  if (realHit) throw denied(mount, `it resolves to ${real}, inside ${realHit}`);
  if (!allowlist.some((a) => within(normalized, a) && within(real, a))) {
    throw denied(mount, `not under any path of the mount allowlist (${allowlist.join(", ") || "empty"})`);
  }
  const target = posix.normalize(mount.sandbox_path);
  const reserved = RESERVED_SANDBOX_PATHS.find((r) => (r === "/" ? target === "/" : within(target, r) || within(r, target)));
  if (reserved) throw denied(mount, `sandbox_path ${target} would cover ${reserved}`);
  return { host_path: real, sandbox_path: target, read_only: mount.read_only };
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Throws SANDBOX_CONFIG_INVALID unless every name is a portable variable name and no value holds a NUL. */
export function checkEnvironment(env: Readonly<Record<string, string>>, where: string): void {
  const bad = Object.entries(env).filter(([k, v]) => !ENV_NAME.test(k) || typeof v !== "string" || v.includes("\0"));
  if (bad.length) {
    throw new SandboxError("SANDBOX_CONFIG_INVALID", `Invalid ${where}: ${bad.map(([k]) => JSON.stringify(k)).join(", ")}`, {
      details: { names: bad.map(([k]) => k), reason: "names must match [A-Za-z_][A-Za-z0-9_]* and values hold no NUL" },
    });
  }
}

export function checkLimits(limits: ResourceLimits): void {
  const issues: string[] = [];
  if (!(limits.memory_mb >= 4)) issues.push("memory_mb must be at least 4");
  if (!(limits.cpu_cores > 0)) issues.push("cpu_cores must be positive");
  if (!(limits.execution_timeout > 0)) issues.push("execution_timeout must be positive");
  if (issues.length) {
    throw new SandboxError("SANDBOX_CONFIG_INVALID", `Invalid resource_limits: ${issues.join("; ")}`, { details: { issues } });
  }
}

/**
 * Turns a path given by a caller (relative to /workspace, or absolute under /workspace) into a relative
 * path with no `..`; anything else is PATH_ESCAPE. Symlinks are the backend's job (it walks the real tree).
 */
export function workspaceRelative(remotePath: string): string {
  const escape = (why: string) =>
    new SandboxError("PATH_ESCAPE", `Path "${remotePath}" escapes the sandbox workspace: ${why}`, {
      details: { path: remotePath, reason: why },
    });
  if (typeof remotePath !== "string" || remotePath.length === 0) throw escape("empty path");
  if (remotePath.includes("\0")) throw escape("NUL byte in path");
  if (remotePath.split("/").includes("..")) throw escape('".." is not allowed');
  let rel = remotePath;
  if (remotePath.startsWith("/")) {
    if (!within(remotePath, "/workspace") || remotePath === "/workspace") throw escape("absolute paths must be inside /workspace");
    rel = remotePath.slice("/workspace/".length);
  }
  rel = rel.split("/").filter((p) => p !== "" && p !== ".").join("/");
  if (!rel) throw escape("no file name");
  return rel;
}
