/**
 * The machine every Tier3 guest runs on: the context the microvm backend hands its sandboxes, the QEMU
 * command line (a warm-pool template and the sandboxes restored from it differ only outside the migrated
 * state), and the ext4 disk images.
 */
import { execFile } from "node:child_process";
import { truncate, writeFile } from "node:fs/promises";
import { promisify } from "node:util";
import type { Clock } from "../core/clock.js";
import type { SandboxSettings } from "../core/config/index.js";
import type { Logger } from "../core/logger.js";

const run = promisify(execFile);

/** What the backend hands each sandbox: resolved settings, the chosen accelerator, the warm pool. */
export interface MicroVmContext {
  readonly settings: SandboxSettings;
  readonly clock: Clock;
  readonly logger: Logger;
  accel: "kvm" | "tcg";
  detail: string;
  readonly base: { qemu: string; kernel: string; initrd: string; khz: number; kvmGid?: number };
  readonly snapshotDir: string;
  readonly stamp: string;
  template(vmMemMb: number, wsMb: number): Promise<string>;
}

/** An empty ext4 image of `mb` MiB whose root belongs to the guest's sandbox user. */
export async function makeImage(path: string, mb: number, from?: string): Promise<void> {
  await writeFile(path, "");
  await truncate(path, mb * 1024 * 1024);
  await run("mkfs.ext4", ["-q", "-F", "-E", "root_owner=65534:65534", ...(from ? ["-d", from] : []), path]);
}

export interface QemuArgsSpec {
  readonly name: string;
  readonly vmMemMb: number;
  readonly guestMemBytes: number;
  readonly workspace: string;
  /** Read-only disk images and where the guest mounts them. */
  readonly mounts: readonly { image: string; path: string }[];
  readonly consolePath: string;
  /** Monitor socket path: this VMM is a warm-pool template. */
  readonly template?: string;
  readonly restore?: boolean;
}

/**
 * The guest kernel's fixed arguments (part of every saved state's identity). `tsc=reliable`: the microvm
 * machine has no HPET or PM timer to check the TSC against, and an emulated CPU's late ticks would make the
 * jiffies watchdog declare it unstable; the guest would then keep time in ticks, never go tickless, and an
 * idle guest would cost host CPU for every tick.
 */
export const KERNEL_ARGS = [
  "console=ttyS0 panic=-1 rdinit=/init quiet",
  "cryptomgr.notests init_on_alloc=0 audit=0 mitigations=off nokaslr no_timer_check random.trust_cpu=on tsc=reliable",
  "8250.nr_uarts=1 i8042.noaux i8042.nokbd i8042.nopnp",
].join(" ");

/** The full QEMU command line; a template and its restored sandboxes differ only outside the migrated state. */
export function buildQemuArgs(ctx: MicroVmContext, a: QemuArgsSpec): string[] {
  const s = ctx.settings;
  const append = [
    KERNEL_ARGS,
    `tsc_early_khz=${ctx.base.khz}`,
    `sbx.mem=${a.guestMemBytes} sbx.pids=${s.pids_limit}`,
    ...(a.mounts.length ? [`sbx.mkdirs=${a.mounts.map((m) => m.path).join(",")}`] : []),
  ].join(" ");
  const args = [
    "-M", "microvm",
    "-accel", ctx.accel === "kvm" ? "kvm" : "tcg,tb-size=32",
    "-cpu", ctx.accel === "kvm" ? "host" : "max",
    "-m", String(a.vmMemMb), "-smp", "1",
    "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-nic", "none",
    "-sandbox", `on,obsolete=deny,elevateprivileges=deny,resourcecontrol=deny${a.template ? "" : ",spawn=deny"}`,
    "-name", a.name,
    "-kernel", ctx.base.kernel, "-initrd", ctx.base.initrd, "-append", append,
    "-serial", `file:${a.consolePath}`,
    "-drive", `file=${a.workspace},format=raw,if=none,id=ws`, "-device", "virtio-blk-device,drive=ws,serial=ws",
  ];
  a.mounts.forEach((m, i) => {
    args.push("-drive", `file=${m.image},format=raw,if=none,id=m${i},readonly=on`, "-device", `virtio-blk-device,drive=m${i},serial=m${i}`);
  });
  args.push("-device", "virtio-serial-device", "-chardev", "stdio,id=ctl,signal=off", "-device", "virtserialport,chardev=ctl,name=ctl");
  if (a.template) args.push("-monitor", `unix:${a.template},server=on,wait=off`);
  if (a.restore) args.push("-incoming", "fd:3");
  return args;
}

