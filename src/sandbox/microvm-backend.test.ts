import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { requirement } from "../../test/helpers/requirements.js";
import type { SandboxId } from "../core/ids.js";
import { describeSandboxContract, makeSandboxHarness } from "./sandbox.contract.js";

/**
 * Host pids of the sandbox's VMM: a QEMU named for it (`-name symbiont-<id>`), in its cgroup (a VM taken
 * from the idle pool was started under a pool name), or holding a file of its directory open.
 */
function vmmPids(id: string, workspaceRoot: string): number[] {
  const found: number[] = [];
  const cgroupLine = new RegExp(`/${id}$`, "m");
  const dir = join(workspaceRoot, id);
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, "utf8");
      if (!cmd.includes("qemu")) continue;
      const ours =
        cmd.includes(`symbiont-${id}`) ||
        cgroupLine.test(readFileSync(`/proc/${e}/cgroup`, "utf8")) ||
        readdirSync(`/proc/${e}/fd`).some((fd) => {
          try {
            return readlinkSync(`/proc/${e}/fd/${fd}`).startsWith(`${dir}/`);
          } catch {
            return false;
          }
        });
      if (ours) found.push(Number(e));
    } catch {
      continue;
    }
  }
  return found;
}

function qemuNamed(name: string): number[] {
  return readdirSync("/proc").filter((e) => {
    if (!/^\d+$/.test(e)) return false;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, "utf8").split("\0");
      return cmd.some((a) => a.includes("qemu")) && cmd.includes(name);
    } catch {
      return false;
    }
  }).map(Number);
}

function leftovers(id: SandboxId, workspaceRoot: string): string[] {
  const left = vmmPids(id, workspaceRoot).map((p) => `VMM process ${p}`);
  if (existsSync(join(workspaceRoot, id))) left.push(join(workspaceRoot, id));
  for (const h of ["memory", "pids", "cpu", "cpuacct", "."]) {
    const base = join("/sys/fs/cgroup", h, "symbiont");
    if (!existsSync(base)) continue;
    for (const inst of readdirSync(base)) if (existsSync(join(base, inst, id))) left.push(join(base, inst, id));
  }
  return left;
}

// Both memory sizes the contract uses get their saved VM state at prepare, outside any test's timeout.
const settings = { microvm: { pool_memory_mb: [64, 32] } };

await describeSandboxContract({ name: "microvm", tier: "Tier3", settings, leftovers: async (id, h) => leftovers(id, h.workspaceRoot) });

const h = await makeSandboxHarness({ ...settings, default_tier: "Tier3" });
const vm = await requirement("microvm", async () => {
  try {
    await h.orchestrator.prepareTier("Tier3");
    return true;
  } catch (err) {
    return (err as Error).message;
  }
});
if (!vm.available) await h.close();

describe.skipIf(!vm.available)("microvm tier - specifics", () => {
  const o = h.orchestrator;
  const sh = (id: SandboxId, script: string) => o.executeCommand(id, "sh", ["-c", script]);

  it("microvm - sandboxes restored from one saved VM state draw different randomness and get the host's clock", async () => {
    const a = await o.createSandbox(h.config());
    const b = await o.createSandbox(h.config());
    await o.startSandbox(a);
    await o.startSandbox(b);
    const probe = "head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n'; echo; date +%s";
    const [ra, rb] = [await sh(a, probe), await sh(b, probe)];
    const [randA, clockA] = ra.stdout.trim().split("\n");
    const [randB, clockB] = rb.stdout.trim().split("\n");
    expect(randA).toMatch(/^[0-9a-f]{64}$/);
    expect(randB).toMatch(/^[0-9a-f]{64}$/);
    expect(randA).not.toBe(randB);
    const now = Date.now() / 1000;
    expect(Math.abs(Number(clockA) - now)).toBeLessThan(60);
    expect(Math.abs(Number(clockB) - now)).toBeLessThan(60);
    const status = await o.getSandboxStatus(a);
    expect(status.isolation).toMatch(/^microvm: qemu .* accel (tcg|kvm) \(/);

    // A VMM crash: the sandbox becomes Failed with the guest console's tail; the other one keeps working.
    const [pid] = vmmPids(b, h.workspaceRoot);
    expect(pid).toBeGreaterThan(0);
    process.kill(pid!, "SIGKILL");
    let st = await o.getSandboxStatus(b);
    for (let i = 0; i < 100 && st.state !== "Failed"; i++) {
      await new Promise((r) => setTimeout(r, 100));
      st = await o.getSandboxStatus(b);
    }
    expect(st.state).toBe("Failed");
    expect(st.error).toContain("VMM exited (SIGKILL)");
    expect(st.error).toContain("guest console");
    expect(h.events.some((e) => e.type === "sandbox.state_changed" && e.sandbox_id === b && e.to === "Failed")).toBe(true);
    await expect(sh(b, "true")).rejects.toMatchObject({ code: "SANDBOX_INVALID_STATE" });
    expect((await sh(a, "echo still-here")).stdout).toBe("still-here\n");
    await o.destroySandbox(b);
    await o.destroySandbox(a);
    expect([...leftovers(a, h.workspaceRoot), ...leftovers(b, h.workspaceRoot)]).toEqual([]);
  }, 60_000);

  it("microvm - commands exec their argv as given: spaces, quotes, newlines and empty arguments arrive intact; a missing program is 127; nothing outlives it", async () => {
    const id = await o.createSandbox(h.config());
    await o.startSandbox(id);
    const args = ["a b", "it's", 'say "hi"', "two\nlines", "", "$HOME;`id`"];
    const r = await o.executeCommand(id, "printf", ["[%s]", ...args]);
    expect(r.exit_code).toBe(0);
    expect(r.stdout).toBe(args.map((a) => `[${a}]`).join(""));
    const missing = await o.executeCommand(id, "no-such-program", []);
    expect(missing.exit_code).toBe(127);
    expect(missing.stderr).toContain("no-such-program");
    const cwd = await o.executeCommand(id, "pwd", [], { cwd: "/tmp" });
    expect(cwd.stdout).toBe("/tmp\n");
    // What a command left running is killed and reaped before its answer: nothing counts against pids_limit.
    expect((await sh(id, "sleep 600 >/dev/null 2>&1 & sleep 600 & echo started")).stdout).toBe("started\n");
    expect((await o.getSandboxUsage(id)).pids).toBe(0);
    await o.destroySandbox(id);
  }, 60_000);

  it("microvm - a guest from the idle pool belongs to one sandbox: its own workspace, its name; the pool refills", async () => {
    await o.prepareTier("Tier3");
    const idleBefore = readdirSync(h.workspaceRoot).filter((n) => n.startsWith(".microvm-pool-"));
    expect(idleBefore.length).toBeGreaterThan(0);
    const a = await o.createSandbox(h.config());
    const b = await o.createSandbox(h.config());
    await o.startSandbox(a);
    await o.startSandbox(b);
    // The pooled VM's directory and cgroup now carry the sandbox's id.
    expect(idleBefore.some((n) => !existsSync(join(h.workspaceRoot, n)))).toBe(true);
    expect(vmmPids(a, h.workspaceRoot)).toHaveLength(1);
    expect(vmmPids(b, h.workspaceRoot)).toHaveLength(1);
    expect(vmmPids(a, h.workspaceRoot)).not.toEqual(vmmPids(b, h.workspaceRoot));
    expect((await sh(a, "echo only-a > mine.txt && ls")).exit_code).toBe(0);
    expect((await sh(b, "test -e mine.txt; echo $?")).stdout).toBe("1\n");
    expect((await sh(a, "cat mine.txt")).stdout).toBe("only-a\n");
    await o.prepareTier("Tier3");
    expect(readdirSync(h.workspaceRoot).filter((n) => n.startsWith(".microvm-pool-")).length).toBeGreaterThan(0);
    await o.destroySandbox(a);
    await o.destroySandbox(b);
    expect([...leftovers(a, h.workspaceRoot), ...leftovers(b, h.workspaceRoot)]).toEqual([]);
  }, 120_000);

  it("microvm - read-write mounts and network are refused with typed errors", async () => {
    const rw = h.config({ filesystem_config: { mounts: [{ host_path: h.allowedDir, sandbox_path: "/mnt/rw", read_only: false }] } });
    await expect(o.createSandbox(rw)).rejects.toMatchObject({ code: "SANDBOX_CONFIG_INVALID" });
    h.denied.delete("sandbox.network");
    try {
      await expect(o.createSandbox(h.config({ network_config: { enabled: true } }))).rejects.toMatchObject({ code: "SANDBOX_CONFIG_INVALID" });
    } finally {
      h.denied.add("sandbox.network");
    }
    await h.close();
  });
});

describe.skipIf(!vm.available)("microvm tier - idle pool shutdown", () => {
  it("microvm - start-up removes a dead runtime's idle-guest directories; shutdown stops every idle pooled guest and removes its directory", async () => {
    const p = await makeSandboxHarness({ microvm: { pool_memory_mb: [64], pool_size: 1 }, default_tier: "Tier3" });
    try {
      const deadPid = spawnSync("true").pid;
      const dead = join(p.workspaceRoot, `.microvm-pool-${deadPid}-0123456789ab`);
      const live = join(p.workspaceRoot, `.microvm-pool-${process.pid}-0123456789ab`);
      for (const d of [dead, live]) {
        mkdirSync(d, { recursive: true });
        writeFileSync(join(d, "workspace.img"), "x");
      }
      await p.orchestrator.prepareTier("Tier3");
      expect(existsSync(dead)).toBe(false);
      expect(existsSync(live)).toBe(true);
      rmSync(live, { recursive: true });
      const idle = readdirSync(p.workspaceRoot).filter((n) => n.startsWith(".microvm-pool-"));
      expect(idle).toHaveLength(1);
      const name = idle[0]!.slice(".microvm-".length);
      expect(qemuNamed(`symbiont-${name}`)).toHaveLength(1);
      await p.orchestrator.shutdown();
      expect(qemuNamed(`symbiont-${name}`)).toEqual([]);
      expect(existsSync(join(p.workspaceRoot, idle[0]!))).toBe(false);
    } finally {
      await p.close();
    }
  }, 120_000);
});

describe("microvm tier - VMM selection", () => {
  it("microvm - guest assets built for an older guest protocol are TIER_UNAVAILABLE with how to rebuild them", async () => {
    const assets = mkdtempSync(join(tmpdir(), "symbiont-old-assets-"));
    for (const f of ["vmlinux", "initramfs.gz"]) writeFileSync(join(assets, f), "");
    writeFileSync(join(assets, "VERSION"), "linux-image-6.1.0-57-cloud-amd64 0123456789abcdef\n");
    const old = await makeSandboxHarness({ default_tier: "Tier3", microvm: { assets_dir: assets } });
    try {
      await expect(old.orchestrator.prepareTier("Tier3")).rejects.toMatchObject({
        code: "TIER_UNAVAILABLE",
        message: expect.stringMatching(/older guest protocol[\s\S]*build-microvm-assets\.sh/),
      });
    } finally {
      await old.close();
      rmSync(assets, { recursive: true, force: true });
    }
  });

  it("microvm - vmm firecracker without its pieces is TIER_UNAVAILABLE naming what is missing, never a weaker tier", async () => {
    const fc = await makeSandboxHarness({
      default_tier: "Tier3",
      microvm: { vmm: "firecracker" },
      firecracker: { binary_path: "/nonexistent/firecracker" },
    });
    try {
      await expect(fc.orchestrator.prepareTier("Tier3")).rejects.toMatchObject({ code: "TIER_UNAVAILABLE", message: expect.stringContaining("firecracker binary not found") });
      await expect(fc.orchestrator.createSandbox(fc.config())).rejects.toMatchObject({ code: "TIER_UNAVAILABLE" });
    } finally {
      await fc.close();
    }
  });
});
