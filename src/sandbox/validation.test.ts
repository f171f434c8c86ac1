import { mkdtemp, rm, symlink, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkEnvironment, checkLimits, checkMount, workspaceRelative } from "./validation.js";

describe("sandbox validation - mounts", () => {
  let root: string;
  let allowed: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "symbiont-val-"));
    allowed = join(root, "allowed");
    await mkdir(join(allowed, "data"), { recursive: true });
    await symlink("/etc", join(allowed, "to-etc"));
    await symlink(root, join(allowed, "to-parent"));
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  const m = (host_path: string, sandbox_path = "/mnt/x") => ({ host_path, sandbox_path, read_only: true });

  it("sandbox validation - forbidden host paths, their parents and their children are MOUNT_DENIED", () => {
    for (const p of ["/", "/etc", "/etc/ssl", "/proc", "/proc/1", "/sys", "/root", "/root/.ssh", "/var/run/docker.sock", "/run/docker.sock", "/var", "/run", "/dev"]) {
      expect(() => checkMount(m(p), ["/"]), p).toThrow(expect.objectContaining({ code: "MOUNT_DENIED" }));
    }
  });

  it("sandbox validation - '..', relative paths, symlinks out of the allowlist and unlisted paths are MOUNT_DENIED", () => {
    expect(() => checkMount(m(`${allowed}/../allowed`), [allowed])).toThrow(expect.objectContaining({ code: "MOUNT_DENIED" }));
    expect(() => checkMount(m("relative"), [allowed])).toThrow(expect.objectContaining({ code: "MOUNT_DENIED" }));
    expect(() => checkMount(m(join(allowed, "to-etc")), [allowed])).toThrow(expect.objectContaining({ code: "MOUNT_DENIED" }));
    expect(() => checkMount(m(join(allowed, "to-parent")), [allowed])).toThrow(expect.objectContaining({ code: "MOUNT_DENIED" }));
    expect(() => checkMount(m(root), [allowed])).toThrow(expect.objectContaining({ code: "MOUNT_DENIED" }));
    expect(() => checkMount(m(join(allowed, "missing")), [allowed])).toThrow(expect.objectContaining({ code: "MOUNT_DENIED" }));
    expect(() => checkMount(m(join(allowed, "data"), "/workspace/x"), [allowed])).toThrow(expect.objectContaining({ code: "MOUNT_DENIED" }));
    expect(() => checkMount(m(join(allowed, "data"), "/mnt/../etc"), [allowed])).toThrow(expect.objectContaining({ code: "MOUNT_DENIED" }));
  });

  it("sandbox validation - an allowlisted folder passes, resolved", () => {
    expect(checkMount(m(join(allowed, "data"), "/mnt/data/"), [allowed])).toEqual({ host_path: join(allowed, "data"), sandbox_path: "/mnt/data/", read_only: true });
  });
});

describe("sandbox validation - env, limits, paths", () => {
  it("sandbox validation - environment names must be portable", () => {
    expect(() => checkEnvironment({ GOOD_1: "x", _ok: "" }, "env")).not.toThrow();
    const bads: Record<string, string>[] = [{ "1BAD": "x" }, { "A-B": "x" }, { "A=B": "x" }, { A: "nul\0" }, { "": "x" }];
    for (const bad of bads) {
      expect(() => checkEnvironment(bad, "env")).toThrow(expect.objectContaining({ code: "SANDBOX_CONFIG_INVALID" }));
    }
  });

  it("sandbox validation - limits must be usable", () => {
    const base = { memory_mb: 64, cpu_cores: 1, disk_io_mbps: 1, network_io_mbps: 1, execution_timeout: 1000, idle_timeout: 1000 };
    expect(() => checkLimits(base)).not.toThrow();
    expect(() => checkLimits({ ...base, memory_mb: 0 })).toThrow(expect.objectContaining({ code: "SANDBOX_CONFIG_INVALID" }));
    expect(() => checkLimits({ ...base, cpu_cores: 0 })).toThrow(expect.objectContaining({ code: "SANDBOX_CONFIG_INVALID" }));
    expect(() => checkLimits({ ...base, execution_timeout: 0 })).toThrow(expect.objectContaining({ code: "SANDBOX_CONFIG_INVALID" }));
  });

  it("sandbox validation - workspace paths: relative or under /workspace, never '..'", () => {
    expect(workspaceRelative("a/b.txt")).toBe("a/b.txt");
    expect(workspaceRelative("/workspace/a/./b.txt")).toBe("a/b.txt");
    expect(workspaceRelative("./x")).toBe("x");
    for (const p of ["../x", "a/../../x", "/etc/passwd", "/workspace", "/workspace/../etc", "/workspacefoo/x", "", "a\0b", "/"]) {
      expect(() => workspaceRelative(p), JSON.stringify(p)).toThrow(expect.objectContaining({ code: "PATH_ESCAPE" }));
    }
  });
});
