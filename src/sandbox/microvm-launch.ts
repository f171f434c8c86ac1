/**
 * Starting one microVM on the host — its directory (owned by the unprivileged VMM user), workspace and mount
 * disk images, host cgroup, and the VMM restored from the warm-pool state (or cold-booted when it has extra
 * disks) — and the guest-side set-up requests. Used for a sandbox's own VM and for the idle, already
 * restored guests of the pool (microvm-pool.ts). Everything it made is released together by `releaseVm`.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chown, mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { SandboxError } from "../core/errors.js";
import type { CgroupManager, SandboxCgroup } from "./cgroups.js";
import { QemuGuest, consoleTail } from "./microvm-guest.js";
import { buildQemuArgs, makeImage, type MicroVmContext } from "./microvm-machine.js";

const run = promisify(execFile);
const MiB = 1024 * 1024;

export interface VmDisk {
  readonly image: string;
  /** Where the guest mounts it. */
  readonly path: string;
}

export interface LaunchSpec {
  /** VMM `-name symbiont-<name>` and the host cgroup's name. */
  readonly name: string;
  readonly dir: string;
  /** The sandbox's memory_mb: guest RAM is this plus the guest overhead. */
  readonly memoryMb: number;
  readonly cpuCores: number;
  /** Host folders copied into read-only disk images. */
  readonly mounts: readonly { readonly host_path: string; readonly sandbox_path: string }[];
  /** Guest requests run before the VM is handed out; a failure here fails the launch like a boot failure. */
  readonly init: (guest: QemuGuest, disks: readonly VmDisk[]) => Promise<void>;
}

export interface LaunchedVm {
  readonly dir: string;
  readonly cgroup: SandboxCgroup;
  readonly guest: QemuGuest;
  readonly memoryMb: number;
}

/** The VMM's host cgroup limits: guest RAM plus the VMM's own overhead, the cpu quota, the VMM's threads. */
export function vmmLimits(ctx: MicroVmContext, memoryMb: number, cpuCores: number): { memory_bytes: number; cpu_cores: number; pids: number } {
  const s = ctx.settings.microvm;
  return { memory_bytes: (memoryMb + s.guest_overhead_mb + s.vmm_overhead_mb) * MiB, cpu_cores: cpuCores, pids: s.vmm_pids };
}

export async function launchVm(ctx: MicroVmContext, cgroups: CgroupManager, spec: LaunchSpec): Promise<LaunchedVm> {
  const s = ctx.settings.microvm;
  const vmMemMb = spec.memoryMb + s.guest_overhead_mb;
  const dir = spec.dir;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // The VMM runs as vmm_uid: it owns its directory (console log) and disks, and nothing else.
  await chown(dir, s.vmm_uid, s.vmm_gid);
  let cgroup: SandboxCgroup | undefined;
  let guest: QemuGuest | undefined;
  try {
    const ws = join(dir, "workspace.img");
    await makeImage(ws, s.workspace_mb);
    const disks: VmDisk[] = [{ image: ws, path: "/workspace" }];
    for (const [i, m] of spec.mounts.entries()) {
      const image = join(dir, `mount${i}.img`);
      const { stdout } = await run("du", ["-sm", m.host_path]);
      await makeImage(image, Math.ceil(Number(stdout.split("\t")[0]) * 1.3) + 16, m.host_path);
      disks.push({ image, path: m.sandbox_path });
    }
    const mounts = disks.slice(1);
    cgroup = await cgroups.create(spec.name, vmmLimits(ctx, spec.memoryMb, spec.cpuCores));
    // A saved state fits only an identical machine: guests with extra disks boot their kernel.
    const statePath = s.warm_pool && mounts.length === 0 ? await ctx.template(vmMemMb, s.workspace_mb) : undefined;
    const consolePath = join(dir, "console.log");
    const args = buildQemuArgs(ctx, {
      name: `symbiont-${spec.name}`,
      vmMemMb,
      guestMemBytes: spec.memoryMb * MiB,
      workspace: ws,
      mounts,
      consolePath,
      restore: statePath !== undefined,
    });
    for (const d of disks) await chown(d.image, s.vmm_uid, s.vmm_gid);
    const groups = ctx.accel === "kvm" && ctx.base.kvmGid !== undefined ? [ctx.base.kvmGid] : [];
    guest = await QemuGuest.start({
      qemu: ctx.base.qemu,
      args,
      cgroupProcs: cgroup.procsFiles(),
      user: { uid: s.vmm_uid, gid: s.vmm_gid, groups },
      ...(statePath ? { statePath } : {}),
      consolePath,
    });
    await guest.ready(s.boot_timeout_ms);
    await spec.init(guest, disks);
    return { dir, cgroup, guest, memoryMb: spec.memoryMb };
  } catch (err) {
    const tail = await consoleTail(join(dir, "console.log"), 1200);
    await guest?.kill();
    await cgroup?.remove().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    if (err instanceof SandboxError && err.code !== "SANDBOX_BACKEND_FAILED") throw err;
    throw new SandboxError("SANDBOX_BACKEND_FAILED", `the microVM did not start: ${(err as Error).message}; guest console (last lines): ${tail || "(empty)"}`, { cause: err });
  }
}

/** Kills the VMM, then removes its cgroup and directory (disk images, console log). */
export async function releaseVm(vm: LaunchedVm): Promise<void> {
  await vm.guest.kill();
  await vm.cgroup.remove();
  await rm(vm.dir, { recursive: true, force: true });
}

/**
 * Fresh host entropy (credited, then a forced CRNG reseed) and the host's clock: a guest restored from a
 * shared saved state must never repeat the template's randomness, and its clock stood still in that state.
 */
export async function seedGuest(ctx: MicroVmContext, guest: QemuGuest): Promise<void> {
  const r = await guest.ask("I", [String(Math.floor(ctx.clock.now() / 1000)), randomBytes(64).toString("hex")], [], ctx.settings.microvm.command_grace_ms);
  if (r.rc !== 0) throw new Error(`the guest could not reseed its random generator or set its clock (rc ${r.rc}): ${r.fields[1]?.toString() ?? ""}`);
}

/** Mounts the disks (by their virtio serial: `ws`, then `m<i>` read-only) at their guest paths, pipelined. */
export async function mountDisks(ctx: MicroVmContext, guest: QemuGuest, disks: readonly VmDisk[]): Promise<void> {
  const grace = ctx.settings.microvm.command_grace_ms;
  const b64 = (text: string) => Buffer.from(text).toString("base64");
  const replies = await Promise.all(disks.map((d, i) => guest.ask("M", [i === 0 ? "ws" : `m${i - 1}`, b64(d.path), i === 0 ? "0" : "1"], [], grace)));
  replies.forEach((r, i) => {
    if (r.rc !== 0) throw new Error(`cannot mount ${disks[i]!.path} in the guest: ${r.fields[1]?.toString() ?? ""}`);
  });
}

/**
 * Runs `true` once through the command path in a pooled guest before it is anyone's sandbox: a guest restored
 * from a saved state has translated none of its code yet under an emulated CPU, and the first command would
 * pay for translating the exec path. Nothing of it remains: its cgroup goes, it writes no file.
 */
export async function warmUpGuest(ctx: MicroVmContext, guest: QemuGuest): Promise<void> {
  const spec = Buffer.from(["/", "1", "true"].join("\0")).toString("base64");
  const r = await guest.ask("X", ["30.000", "1024", String(spec.length), "0"], [spec], ctx.settings.microvm.command_grace_ms);
  if (r.rc !== 0) throw new Error(`a warm-up command failed in the guest (rc ${r.rc}): ${r.fields[1]?.toString() ?? ""}`);
}
