/**
 * Tier3 `microvm`: every sandbox is its own virtual machine — a QEMU `microvm` machine with its own guest
 * kernel (the Debian cloud kernel), one vCPU, guest RAM = memory_mb + a fixed overhead, no network device at
 * all (`-nic none`), QEMU's seccomp sandbox on, the VMM dropped to an unprivileged host user and placed in a
 * host cgroup (memory, cpu quota, pids). Inside, commands run as an unprivileged guest user in a guest cgroup
 * that carries memory_mb and the pids limit. Hardware acceleration (KVM) is used when the host has it and a
 * guest boots with it; otherwise QEMU emulates the CPU (TCG): slower, the same boundary. The choice is made
 * at prepare, logged and shown in each sandbox's status — never silently changed afterwards.
 *
 * Warm pool: per guest memory size, a template guest is booted once and its whole state saved to disk
 * (`migrate exec:`); a VM restores from that file (`-incoming fd:3`) in well under a second, and `pool_size`
 * restored guests per `pool_memory_mb` size wait idle (microvm-pool.ts), so a create only takes one. The first
 * request to a sandbox's guest credits fresh host entropy and forces its CRNG to reseed (RNDRESEEDCRNG, see
 * scripts/microvm-exec.c), then sets its clock, so no two sandboxes share the template's randomness.
 */
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { constants, existsSync, readFileSync, statSync } from "node:fs";
import { access, mkdir, mkdtemp, rename, rm } from "node:fs/promises";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Clock } from "../core/clock.js";
import type { SandboxSettings } from "../core/config/index.js";
import { SandboxError } from "../core/errors.js";
import type { Logger } from "../core/logger.js";
import type { BackendSandbox, BackendSandboxSpec, SandboxBackend, TierAvailability } from "./backend.js";
import { CgroupManager, detectCgroupLayout } from "./cgroups.js";
import { QemuGuest } from "./microvm-guest.js";
import { KERNEL_ARGS, buildQemuArgs, makeImage, type MicroVmContext } from "./microvm-machine.js";
import { MicroVmPool } from "./microvm-pool.js";
import { MicroVmSandbox } from "./microvm-sandbox.js";

const MiB = 1024 * 1024;
/**
 * The guest agent protocol this host code speaks; scripts/build-microvm-assets.sh writes the same tag into
 * the assets' VERSION. Older assets are refused (with how to rebuild them), never half-understood.
 */
const GUEST_PROTOCOL = "protocol-2";
/**
 * After the agent is up, the template idles this long before its state is saved: the guest kernel switches
 * clocksource and tick mode a few seconds into boot, and a state saved before that panics after a restore
 * (seen as "Attempted to kill the idle task" in tick_periodic).
 */
const TEMPLATE_SETTLE_MS = 4000;

function which(cmd: string): string | undefined {
  if (cmd.startsWith("/")) return existsSync(cmd) ? cmd : undefined;
  const r = spawnSync("sh", ["-c", `command -v "${cmd}"`], { encoding: "utf8" });
  const out = r.stdout.trim();
  return r.status === 0 && out ? out : undefined;
}

/** The host TSC frequency, kHz: without it a TCG guest may hang calibrating against the PIT. */
function hostTscKhz(): number | undefined {
  const m = /^cpu MHz\s*:\s*([\d.]+)/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
  return m ? Math.round(Number(m[1]) * 1000) : undefined;
}

function hasHardwareVirt(): boolean {
  return /^flags\s*:.*\b(vmx|svm)\b/m.test(readFileSync("/proc/cpuinfo", "utf8"));
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Sends HMP monitor commands over its unix socket and returns everything it printed. */
async function monitor(path: string, commands: readonly string[], waitMs = 300): Promise<string> {
  const sock = createConnection(path);
  let out = "";
  sock.on("data", (c: Buffer) => (out += c.toString()));
  await new Promise<void>((resolve, reject) => {
    sock.once("connect", resolve);
    sock.once("error", reject);
  });
  for (const c of commands) sock.write(`${c}\n`);
  await sleep(waitMs);
  sock.destroy();
  return out;
}

export interface MicroVmBackendOptions {
  readonly settings: SandboxSettings;
  readonly workspaceRoot: string;
  readonly clock: Clock;
  readonly logger: Logger;
}

type Accel = "kvm" | "tcg";

export class MicroVmBackend implements SandboxBackend {
  readonly tier = "Tier3" as const;
  readonly name = "microvm";
  #availability: Promise<TierAvailability> | undefined;
  #ctx: MicroVmContext | undefined;
  #cgroups: CgroupManager | undefined;
  #pool: MicroVmPool | undefined;
  readonly #templates = new Map<string, Promise<string>>();

  constructor(private readonly options: MicroVmBackendOptions) {}

  get #s(): SandboxSettings["microvm"] {
    return this.options.settings.microvm;
  }

  prepare(): Promise<TierAvailability> {
    return (this.#availability ??= this.#probe());
  }

  async #probe(): Promise<TierAvailability> {
    const s = this.#s;
    const missing: string[] = [];
    const qemu = which(s.qemu_path);
    if (!qemu) missing.push(`QEMU (${s.qemu_path}) is not installed`);
    if (!which("setpriv")) missing.push("setpriv (util-linux) is not installed");
    for (const tool of ["mkfs.ext4"]) if (!which(tool)) missing.push(`${tool} (e2fsprogs) is not installed`);
    const kernel = join(s.assets_dir, "vmlinux");
    const initrd = join(s.assets_dir, "initramfs.gz");
    for (const f of [kernel, initrd]) if (!existsSync(f)) missing.push(`guest asset ${f} is missing`);
    if (process.getuid?.() !== 0) missing.push("the runtime must run as root to place each VMM in a cgroup");
    const layout = detectCgroupLayout();
    if (typeof layout === "string") missing.push(layout);
    const khz = hostTscKhz();
    if (!khz) missing.push("cannot read the host CPU frequency from /proc/cpuinfo");
    const assetsStamp = existsSync(join(s.assets_dir, "VERSION")) ? readFileSync(join(s.assets_dir, "VERSION"), "utf8").trim() : "unversioned";
    if (existsSync(initrd) && !assetsStamp.includes(GUEST_PROTOCOL)) {
      missing.push(`the guest assets in ${s.assets_dir} speak an older guest protocol (VERSION "${assetsStamp}", this runtime needs "${GUEST_PROTOCOL}")`);
    }
    const howto = "run scripts/build-microvm-assets.sh (or scripts/setup-host.sh) as root";
    if (missing.length > 0 || typeof layout === "string" || !qemu || !khz) return { available: false, missing, howto };

    const version = (spawnSync(qemu, ["--version"], { encoding: "utf8" }).stdout ?? "").split("\n")[0] ?? "";
    const cgroups = new CgroupManager(layout, this.options.settings.process.cgroup_parent);
    try {
      await cgroups.prepare();
    } catch (err) {
      return { available: false, missing: [`cannot create cgroups: ${(err as Error).message}`], howto };
    }
    const snapshotDir = s.snapshot_dir ?? join(s.assets_dir, "snapshots");
    await mkdir(snapshotDir, { recursive: true });
    await mkdir(this.options.workspaceRoot, { recursive: true, mode: 0o711 });
    const base = {
      qemu,
      kernel,
      initrd,
      khz,
      ...(existsSync("/dev/kvm") ? { kvmGid: statSync("/dev/kvm").gid } : {}),
    };
    this.#cgroups = cgroups;
    const ctx: MicroVmContext = {
      settings: this.options.settings,
      clock: this.options.clock,
      logger: this.options.logger,
      accel: "tcg",
      detail: "",
      base,
      snapshotDir,
      stamp: createHash("sha256").update(`${assetsStamp}|${version}|${KERNEL_ARGS}`).digest("hex").slice(0, 12),
      template: (vmMemMb, wsMb) => this.#template(vmMemMb, wsMb),
    };
    this.#ctx = ctx;
    const accel = await this.#chooseAccel(ctx);
    if ("missing" in accel) return { available: false, missing: [accel.missing], howto: accel.howto };
    ctx.accel = accel.accel;
    ctx.detail = `qemu ${version.replace(/^QEMU emulator version /, "")} microvm, accel ${accel.accel} (${accel.why}), ${s.warm_pool ? "warm pool from saved VM state" : "cold boot"}`;
    if (s.warm_pool) {
      try {
        for (const mb of s.pool_memory_mb) await this.#template(mb + s.guest_overhead_mb, s.workspace_mb);
      } catch (err) {
        return { available: false, missing: [`cannot make the warm pool's saved VM state: ${(err as Error).message}`], howto };
      }
    }
    this.#pool = new MicroVmPool(ctx, cgroups, this.options.workspaceRoot);
    await this.#pool.removeOrphans();
    this.#pool.refill();
    return { available: true, detail: ctx.detail };
  }

  /** kvm when asked (or auto) and a guest really boots with it; tcg otherwise — decided once, reported. */
  async #chooseAccel(ctx: MicroVmContext): Promise<{ accel: Accel; why: string } | { missing: string; howto: string }> {
    const want = this.#s.accel;
    if (want === "tcg") return { accel: "tcg", why: "configured" };
    let kvmProblem: string | undefined;
    try {
      await access("/dev/kvm", constants.R_OK | constants.W_OK);
      if (!hasHardwareVirt()) kvmProblem = "/dev/kvm is present but the CPU has no VT-x/AMD-V (a paravirtual KVM cannot run a stock guest kernel)";
    } catch {
      kvmProblem = "/dev/kvm is missing or not usable";
    }
    if (!kvmProblem) {
      try {
        ctx.accel = "kvm";
        const probe = new MicroVmProbe(ctx);
        await probe.bootOnce(30_000);
        return { accel: "kvm", why: want === "kvm" ? "configured" : "auto: a test guest booted with KVM" };
      } catch (err) {
        kvmProblem = `a test guest did not boot with KVM: ${(err as Error).message}`;
      } finally {
        ctx.accel = "tcg";
      }
    }
    if (want === "kvm") return { missing: kvmProblem, howto: "set sandbox.microvm.accel to tcg or auto on this host" };
    return { accel: "tcg", why: `auto: ${kvmProblem}` };
  }

  /** The saved VM state for a guest of `vmMemMb` MiB with a `wsMb` workspace disk, made on first use. */
  #template(vmMemMb: number, wsMb: number): Promise<string> {
    const ctx = this.#ctx!;
    // Everything the saved guest was booted with: RAM, the sandbox memory limit inside it, disk, pids, accel.
    const key = `m${vmMemMb}-g${vmMemMb - this.#s.guest_overhead_mb}-w${wsMb}-p${this.options.settings.pids_limit}-${ctx.accel}-${ctx.stamp}`;
    let made = this.#templates.get(key);
    if (!made) {
      made = this.#makeTemplate(ctx, key, vmMemMb, wsMb);
      this.#templates.set(key, made);
      made.catch(() => this.#templates.delete(key));
    }
    return made;
  }

  async #makeTemplate(ctx: MicroVmContext, key: string, vmMemMb: number, wsMb: number): Promise<string> {
    const path = join(ctx.snapshotDir, `${key}.state`);
    if (existsSync(path)) return path;
    const started = performance.now();
    const dir = await mkdtemp(join(tmpdir(), "symbiont-vmtpl-"));
    const tmpState = join(ctx.snapshotDir, `.${key}.${process.pid}.${randomBytes(3).toString("hex")}`);
    try {
      const ws = join(dir, "ws.img");
      await makeImage(ws, wsMb);
      const mon = join(dir, "mon.sock");
      const args = buildQemuArgs(ctx, {
        name: "symbiont-template",
        vmMemMb,
        guestMemBytes: (vmMemMb - ctx.settings.microvm.guest_overhead_mb) * MiB,
        workspace: ws,
        mounts: [],
        consolePath: join(dir, "console.log"),
        // The template's state is written by `exec:cat`, so this one VMM may spawn; it never runs sandbox code.
        template: mon,
      });
      const guest = await QemuGuest.start({ qemu: ctx.base.qemu, args, cgroupProcs: [], consolePath: join(dir, "console.log") });
      try {
        await guest.ready(ctx.settings.microvm.boot_timeout_ms);
        await sleep(TEMPLATE_SETTLE_MS);
        await monitor(mon, [`migrate "exec:cat > ${tmpState}"`]);
        for (let i = 0; ; i++) {
          const info = await monitor(mon, ["info migrate"], 200);
          if (/Migration status: completed/.test(info)) break;
          if (/Migration status: (failed|cancelled)/.test(info) || i > 600) throw new Error(`saving the VM state failed: ${info.slice(-400)}`);
          await sleep(200);
        }
      } finally {
        await guest.kill();
      }
      await rename(tmpState, path);
      this.options.logger.info({ key, ms: Math.round(performance.now() - started) }, "microvm warm-pool state saved");
      return path;
    } finally {
      await rm(tmpState, { force: true });
      await rm(dir, { recursive: true, force: true });
    }
  }

  async warm(): Promise<void> {
    await this.#pool?.warm();
  }

  async create(spec: BackendSandboxSpec): Promise<BackendSandbox> {
    const ctx = this.#ctx;
    const cgroups = this.#cgroups;
    const pool = this.#pool;
    if (!ctx || !cgroups || !pool) throw new SandboxError("TIER_UNAVAILABLE", "Tier3 (microvm) was not prepared");
    return MicroVmSandbox.create(ctx, cgroups, pool, spec, join(this.options.workspaceRoot, spec.id));
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.#templates.values());
    await this.#pool?.close();
    await this.#cgroups?.close();
  }
}

/** Boots one throw-away guest (the KVM probe). */
class MicroVmProbe {
  constructor(private readonly ctx: MicroVmContext) {}

  async bootOnce(timeoutMs: number): Promise<void> {
    const dir = await mkdtemp(join(tmpdir(), "symbiont-vmprobe-"));
    try {
      const ws = join(dir, "ws.img");
      await makeImage(ws, 8);
      const consolePath = join(dir, "console.log");
      const args = buildQemuArgs(this.ctx, { name: "symbiont-probe", vmMemMb: 128, guestMemBytes: 32 * MiB, workspace: ws, mounts: [], consolePath });
      const guest = await QemuGuest.start({ qemu: this.ctx.base.qemu, args, cgroupProcs: [], consolePath });
      try {
        await guest.ready(timeoutMs);
      } finally {
        await guest.kill();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}
