import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile, mkdir } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { requirement } from "../../test/helpers/requirements.js";
import { SandboxId } from "../core/ids.js";
import { detectCgroupLayout } from "./cgroups.js";
import { makeSandboxHarness } from "./sandbox.contract.js";

const probe = (tier: "Tier0" | "Tier1") => async () => {
  const h = await makeSandboxHarness();
  try {
    await h.orchestrator.prepareTier(tier);
    return true as const;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await h.close();
  }
};
const proc = await requirement("process", probe("Tier0"));

/** A pid that belonged to a process that has exited. */
function deadPid(): number {
  return spawnSync("true").pid!;
}
const docker = await requirement("docker", probe("Tier1"));

describe("sandbox orchestrator - without a tier", () => {
  it("sandbox orchestrator - unknown ids are SANDBOX_NOT_FOUND", async () => {
    const h = await makeSandboxHarness();
    try {
      await expect(h.orchestrator.getSandboxStatus(SandboxId.new())).rejects.toMatchObject({ code: "SANDBOX_NOT_FOUND", status: 404 });
      await expect(h.orchestrator.executeCommand(SandboxId.new(), "true", [])).rejects.toMatchObject({ code: "SANDBOX_NOT_FOUND" });
    } finally {
      await h.close();
    }
  });

  it("sandbox orchestrator - an unreachable engine is TIER_UNAVAILABLE saying how to fix it", async () => {
    const h = await makeSandboxHarness({ docker: { socket_path: "/nonexistent/docker.sock" } });
    try {
      const err = await h.orchestrator.createSandbox(h.config({ security_tier: "Tier1" })).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "TIER_UNAVAILABLE" });
      expect((err as Error).message).toContain("/nonexistent/docker.sock");
      expect((err as Error).message).toContain("setup-host.sh");
    } finally {
      await h.close();
    }
  });

  it("sandbox orchestrator - bad limits and env names are refused before anything is created", async () => {
    const h = await makeSandboxHarness();
    try {
      await expect(h.orchestrator.createSandbox(h.config({ memory_mb: 0 }))).rejects.toMatchObject({ code: "SANDBOX_CONFIG_INVALID" });
      await expect(h.orchestrator.createSandbox(h.config({ environment_variables: { "X Y": "1" } }))).rejects.toMatchObject({ code: "SANDBOX_CONFIG_INVALID" });
      expect(h.requests).toEqual([]);
    } finally {
      await h.close();
    }
  });

  it("sandbox orchestrator - cgroup layout detection tells v1 from v2", async () => {
    const root = await mkdtemp(join(tmpdir(), "symbiont-cg-"));
    try {
      await writeFile(join(root, "cgroup.controllers"), "memory pids cpu\n");
      expect(detectCgroupLayout(root)).toEqual({ version: 2, root });
      await rm(join(root, "cgroup.controllers"));
      expect(detectCgroupLayout(root)).toMatch(/controller "memory" is not mounted/);
      for (const c of ["memory", "pids", "cpu", "cpuacct"]) {
        await mkdir(join(root, c));
        await writeFile(join(root, c, "cgroup.procs"), "");
      }
      expect(detectCgroupLayout(root)).toMatchObject({ version: 1, memory: join(root, "memory") });
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!proc.available)("sandbox orchestrator - on the process tier", () => {
  const made: Array<{ close(): Promise<void> }> = [];
  afterAll(async () => {
    for (const h of made) await h.close();
  });

  it("sandbox orchestrator - a denied exec is POLICY_DENIED with a policy.denied event and nothing runs", async () => {
    const h = await makeSandboxHarness({ default_tier: "Tier0" });
    made.push(h);
    const id = await h.orchestrator.createSandbox(h.config());
    await h.orchestrator.startSandbox(id);
    h.denied.add("sandbox.exec");
    await expect(h.orchestrator.executeCommand(id, "sh", ["-c", "echo ran > ran.txt"])).rejects.toMatchObject({ code: "POLICY_DENIED" });
    h.denied.delete("sandbox.exec");
    expect(h.events.some((e) => e.type === "policy.denied" && e.action === "sandbox.exec")).toBe(true);
    await expect(h.orchestrator.downloadFile(id, "ran.txt", join(h.dataDir, "ran.txt"))).rejects.toMatchObject({ code: "FILE_NOT_FOUND" });
    h.denied.add("sandbox.create");
    await expect(h.orchestrator.createSandbox(h.config())).rejects.toMatchObject({ code: "POLICY_DENIED" });
    h.denied.delete("sandbox.create");
  });

  it("sandbox orchestrator - usage is measured from the cgroup", async () => {
    const h = await makeSandboxHarness({ default_tier: "Tier0" });
    made.push(h);
    const id = await h.orchestrator.createSandbox(h.config({ memory_mb: 48 }));
    await h.orchestrator.startSandbox(id);
    const before = await h.orchestrator.getSandboxUsage(id);
    expect(before.memory_limit_bytes).toBe(48 * 1024 * 1024);
    await h.orchestrator.executeCommand(id, "sh", ["-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"]);
    const after = await h.orchestrator.getSandboxUsage(id);
    expect(after.cpu_time_ms).toBeGreaterThan(before.cpu_time_ms);
    expect(after.sandbox_id).toBe(id);
  });

  it("sandbox orchestrator - a dead instance's cgroups and workspaces are removed at start-up", async () => {
    const h = await makeSandboxHarness({ default_tier: "Tier0" });
    made.push(h);
    const orphan = SandboxId.new();
    const cgroup = join("/sys/fs/cgroup/memory/symbiont", `rt-${deadPid()}-deadbeef`, orphan);
    const v1 = existsSync("/sys/fs/cgroup/memory/cgroup.procs");
    if (v1) await mkdir(cgroup, { recursive: true });
    const workspace = join(h.workspaceRoot, orphan);
    await mkdir(workspace, { recursive: true });
    await h.orchestrator.prepareTier("Tier0");
    if (v1) expect(existsSync(cgroup)).toBe(false);
    expect(existsSync(workspace)).toBe(!v1);
  });

  it("sandbox orchestrator - shutdown destroys every sandbox and refuses new calls", async () => {
    const h = await makeSandboxHarness({ default_tier: "Tier0" });
    const a = await h.orchestrator.createSandbox(h.config());
    const b = await h.orchestrator.createSandbox(h.config());
    await h.orchestrator.startSandbox(b);
    await h.orchestrator.shutdown();
    expect((await h.orchestrator.getSandboxStatus(a)).state).toBe("Destroyed");
    expect((await h.orchestrator.getSandboxStatus(b)).state).toBe("Destroyed");
    await expect(h.orchestrator.createSandbox(h.config())).rejects.toMatchObject({ code: "RUNTIME_SHUT_DOWN" });
    await h.orchestrator.shutdown();
    await h.close();
  });
});

describe.skipIf(!docker.available)("sandbox orchestrator - on the docker engine", () => {
  it("sandbox orchestrator - gVisor without a registered runtime is TIER_UNAVAILABLE saying how to register it", async () => {
    const h = await makeSandboxHarness({ docker: { gvisor_runtime: "runsc-not-registered" } });
    try {
      const err = await h.orchestrator.createSandbox(h.config({ security_tier: "Tier2" })).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "TIER_UNAVAILABLE" });
      expect((err as Error).message).toContain("/etc/docker/daemon.json");
      expect((err as Error).message).toContain("runsc-not-registered");
    } finally {
      await h.close();
    }
  });

  it("sandbox orchestrator - containers of this runtime id whose owner is gone are removed at start-up", async () => {
    const { default: Docker } = await import("dockerode");
    const engine = new Docker({ socketPath: "/var/run/docker.sock" });
    const runtime_id = `orphan-test-${randomBytes(4).toString("hex")}`;
    const labels = { "symbiont.runtime": runtime_id, "symbiont.tier": "docker" };
    const dead = await engine.createContainer({ Image: "local/symbiont-sandbox:1", Cmd: ["true"], Labels: { ...labels, "symbiont.owner": `${hostname()}:${deadPid()}` } });
    const live = await engine.createContainer({ Image: "local/symbiont-sandbox:1", Cmd: ["true"], Labels: { ...labels, "symbiont.owner": `${hostname()}:${process.pid}` } });
    const h = await makeSandboxHarness({ runtime_id, docker: { warm_pool_size: 0 } });
    try {
      await h.orchestrator.prepareTier("Tier1");
      const left = await engine.listContainers({ all: true, filters: { label: [`symbiont.runtime=${runtime_id}`] } });
      expect(left.map((c) => c.Id)).toEqual([live.id]);
      expect(left.some((c) => c.Id === dead.id)).toBe(false);
    } finally {
      await live.remove({ force: true });
      await dead.remove({ force: true }).catch(() => undefined);
      await h.close();
    }
  });

  it("sandbox orchestrator - a pooled Docker sandbox gets the requested limits", async () => {
    const h = await makeSandboxHarness({ default_tier: "Tier1", docker: { warm_pool_size: 1 }, prepare_tiers: ["Tier1"] });
    try {
      const id = await h.orchestrator.createSandbox(h.config({ memory_mb: 40 }));
      const { default: Docker } = await import("dockerode");
      const inspected = await new Docker({ socketPath: "/var/run/docker.sock" }).getContainer(`symbiont-${id}`).inspect();
      expect(inspected.Config.Labels["symbiont.workspace"]).toContain("/pool-");
      expect(inspected.State.Paused).toBe(true);
      await h.orchestrator.startSandbox(id);
      const usage = await h.orchestrator.getSandboxUsage(id);
      expect(usage.memory_limit_bytes).toBe(40 * 1024 * 1024);
      const r = await h.orchestrator.executeCommand(id, "sh", ["-c", "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max"]);
      expect(r.stdout.trim()).toBe("256");
    } finally {
      await h.close();
    }
  });
});
