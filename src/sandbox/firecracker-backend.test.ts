import { mkdtemp, rm, writeFile, chmod } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { resolveConfig } from "../core/config/index.js";
import { FirecrackerBackend, missingFirecrackerPieces } from "./firecracker-backend.js";
import { describeSandboxContract, makeSandboxHarness } from "./sandbox.contract.js";

// Runs (and must pass) wherever Tier3 can run; elsewhere skips with the printed list of missing pieces.
await describeSandboxContract({ name: "firecracker", tier: "Tier3", leftovers: async () => [] });

describe("firecracker tier - availability", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it("firecracker tier - create is TIER_UNAVAILABLE naming each missing piece, never a weaker tier", async () => {
    const h = await makeSandboxHarness({
      firecracker: {
        binary_path: "/nonexistent/firecracker",
        kernel_path: "/nonexistent/vmlinux",
        rootfs_path: "/nonexistent/rootfs.ext4",
        kvm_device: "/nonexistent/kvm",
      },
    });
    try {
      const err = await h.orchestrator.createSandbox(h.config({ security_tier: "Tier3" })).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "TIER_UNAVAILABLE", status: 503 });
      const missing = (err as { details: { missing: string[] } }).details.missing.join("\n");
      expect(missing).toContain("/nonexistent/firecracker");
      expect(missing).toContain("/nonexistent/vmlinux");
      expect(missing).toContain("/nonexistent/rootfs.ext4");
      expect(missing).toContain("/nonexistent/kvm");
      expect(await h.orchestrator.listSandboxes()).toEqual([]);
      expect(h.events.some((e) => e.type === "sandbox.created")).toBe(false);
    } finally {
      await h.close();
    }
  });

  it("firecracker tier - present files are not reported missing; an unusable KVM device is", async () => {
    const dir = await mkdtemp(join(tmpdir(), "symbiont-fc-"));
    dirs.push(dir);
    for (const f of ["firecracker", "vmlinux", "rootfs.ext4", "kvm"]) await writeFile(join(dir, f), "");
    await chmod(join(dir, "firecracker"), 0o755);
    await chmod(join(dir, "kvm"), 0o000);
    const fc = resolveConfig({
      sandbox: {
        firecracker: {
          binary_path: join(dir, "firecracker"),
          kernel_path: join(dir, "vmlinux"),
          rootfs_path: join(dir, "rootfs.ext4"),
          kvm_device: "/nonexistent/kvm",
        },
      },
    }).sandbox.firecracker;
    const missing = await missingFirecrackerPieces(fc);
    expect(missing).toHaveLength(1);
    expect(missing[0]).toContain("/nonexistent/kvm");
    const availability = await new FirecrackerBackend(fc).prepare();
    expect(availability.available).toBe(false);
  });
});
