/**
 * One Tier3 sandbox: its microVM (an idle one taken from the pool, else restored from the saved state, or
 * cold-booted when it has extra mounts), its workspace disk image and its host cgroup. The VM runs from
 * create to destroy; stop kills every process in the guest (the workspace persists) and start makes the
 * guest usable again. When the VMM ends without being asked — a guest kernel panic (panic=-1 with
 * -no-reboot ends QEMU) or a VMM crash — the sandbox is reported Failed with the tail of the guest console.
 */
import { rename } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { SandboxError } from "../core/errors.js";
import type { ResourceLimits } from "../core/types.js";
import type { BackendExecRequest, BackendLimitChange, BackendSandbox, BackendSandboxSpec, BackendSpawnRequest, BackendUsage } from "./backend.js";
import type { CgroupManager, SandboxCgroup } from "./cgroups.js";
import { consoleTail, type GuestReply, type QemuGuest } from "./microvm-guest.js";
import { launchVm, mountDisks, releaseVm, seedGuest, vmmLimits, type LaunchedVm } from "./microvm-launch.js";
import type { MicroVmContext } from "./microvm-machine.js";
import type { MicroVmPool } from "./microvm-pool.js";
import { CappedOutput } from "./output.js";
import type { CommandResult, ProcessExit, SandboxProcess } from "./types.js";

const MiB = 1024 * 1024;
/** Sandbox paths the guest can mount a disk on: they go on the kernel command line. */
const MOUNT_PATH = /^\/[A-Za-z0-9_.\-/]+$/;

/** Shell-quotes one word for the guest's sh. */
function q(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

function b64(data: string | Uint8Array): string {
  return Buffer.from(data).toString("base64");
}

/** A long-lived process's script for the guest shell agent: chdir, a cleared environment, then exec. */
function script(command: string, args: readonly string[], env: Readonly<Record<string, string>>, cwd: string): string {
  const vars = Object.entries(env).map(([k, v]) => q(`${k}=${v}`));
  return `cd ${q(cwd)} || exit 126\nexec env -i ${vars.join(" ")} ${[command, ...args].map(q).join(" ")}\n`;
}

/**
 * A command for the guest's exec helper (scripts/microvm-exec.c), NUL-separated: cwd, argc, argv, then the
 * whole environment. It execs argv directly: no shell, no `env`, no `su` in between.
 */
function commandSpec(command: string, args: readonly string[], env: Readonly<Record<string, string>>, cwd: string): string {
  return [cwd, String(args.length + 1), command, ...args, ...Object.entries(env).map(([k, v]) => `${k}=${v}`)].join("\0");
}

export class MicroVmSandbox implements BackendSandbox {
  #guest: QemuGuest;
  #failed: string | undefined;

  private constructor(
    private readonly ctx: MicroVmContext,
    private readonly spec: BackendSandboxSpec,
    private readonly dir: string,
    private readonly cgroup: SandboxCgroup,
    guest: QemuGuest,
  ) {
    this.#guest = guest;
    this.#watch(guest);
  }

  /**
   * The VM's RAM is fixed when it boots, so a memory change is refused (recreate the sandbox); cpu and pids
   * apply at once to the VMM's host cgroup.
   */
  async updateLimits(limits: ResourceLimits): Promise<BackendLimitChange> {
    if (limits.memory_mb !== this.spec.limits.memory_mb) {
      throw new SandboxError(
        "SANDBOX_BACKEND_FAILED",
        `Tier3 (microvm) cannot change a running VM's memory (${this.spec.limits.memory_mb} MiB -> ${limits.memory_mb} MiB); destroy and recreate the sandbox`,
      );
    }
    return this.cgroup.applyLimits(vmmLimits(this.ctx, this.spec.limits.memory_mb, limits.cpu_cores));
  }

  /**
   * Takes an idle, already restored VM from the pool when one fits (no extra mounts), else starts one; either
   * way the guest gets fresh entropy and the clock before it is handed out.
   */
  static async create(ctx: MicroVmContext, cgroups: CgroupManager, pool: MicroVmPool, spec: BackendSandboxSpec, dir: string): Promise<MicroVmSandbox> {
    if (spec.network) {
      throw new SandboxError("SANDBOX_CONFIG_INVALID", "Tier3 (microvm) guests have no network device; network_config.enabled must be false");
    }
    for (const m of spec.mounts) {
      if (!m.read_only) throw new SandboxError("SANDBOX_CONFIG_INVALID", `Tier3 (microvm) mounts are read-only copies; ${m.sandbox_path} asks for read-write`);
      if (!MOUNT_PATH.test(m.sandbox_path)) throw new SandboxError("SANDBOX_CONFIG_INVALID", `Tier3 (microvm) cannot mount at ${JSON.stringify(m.sandbox_path)}`);
    }
    const pooled = spec.mounts.length === 0 ? pool.take(spec.limits.memory_mb) : undefined;
    if (pooled) {
      try {
        return await MicroVmSandbox.#adopt(ctx, spec, dir, pooled);
      } catch (err) {
        ctx.logger.warn({ err, sandbox_id: spec.id }, "pooled microVM unusable; starting a fresh one");
      }
    }
    const vm = await launchVm(ctx, cgroups, {
      name: spec.id,
      dir,
      memoryMb: spec.limits.memory_mb,
      cpuCores: spec.limits.cpu_cores,
      mounts: spec.mounts,
      init: async (guest, disks) => void (await Promise.all([seedGuest(ctx, guest), mountDisks(ctx, guest, disks)])),
    });
    return new MicroVmSandbox(ctx, spec, vm.dir, vm.cgroup, vm.guest);
  }

  /** The pooled VM becomes this sandbox's: its directory and cgroup take the sandbox's names and limits. */
  static async #adopt(ctx: MicroVmContext, spec: BackendSandboxSpec, dir: string, vm: LaunchedVm): Promise<MicroVmSandbox> {
    let owned = vm;
    try {
      await rename(vm.dir, dir);
      owned = { ...owned, dir };
      owned = { ...owned, cgroup: await vm.cgroup.rename(spec.id) };
      await owned.cgroup.applyLimits(vmmLimits(ctx, spec.limits.memory_mb, spec.limits.cpu_cores));
      await seedGuest(ctx, vm.guest);
      return new MicroVmSandbox(ctx, spec, dir, owned.cgroup, vm.guest);
    } catch (err) {
      await releaseVm(owned).catch(() => undefined);
      throw err;
    }
  }

  #watch(guest: QemuGuest): void {
    void guest.exited.then(async (why) => {
      if (!guest.crashed) return;
      const tail = await consoleTail(join(this.dir, "console.log"));
      this.#fail(`${why}; guest console (last lines): ${tail || "(empty)"}`);
    });
  }

  #fail(reason: string): void {
    if (this.#failed) return;
    this.#failed = reason;
    this.ctx.logger.error({ sandbox_id: this.spec.id, reason }, "microvm sandbox failed");
    this.spec.onFailed?.(reason);
  }

  #checkAlive(): void {
    if (this.#failed) throw new SandboxError("SANDBOX_BACKEND_FAILED", `the sandbox's microVM failed: ${this.#failed}`);
  }

  /** A request that must be answered within the grace period. */
  async #ask(verb: string, args: readonly string[], payloads: readonly string[] = []): Promise<GuestReply> {
    this.#checkAlive();
    return this.#guest.ask(verb, args, payloads, this.ctx.settings.microvm.command_grace_ms);
  }

  async start(): Promise<void> {
    this.#checkAlive();
  }

  /** Kills every process in the guest and waits until none is left. */
  async stop(): Promise<void> {
    this.#checkAlive();
    this.#guest.write(`K all`);
    for (let i = 0; i < 100; i++) {
      if ((await this.usage()).pids === 0) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new SandboxError("SANDBOX_BACKEND_FAILED", "processes survive in the guest after stop");
  }

  async destroy(): Promise<void> {
    await releaseVm({ dir: this.dir, cgroup: this.cgroup, guest: this.#guest, memoryMb: this.spec.limits.memory_mb });
  }

  async exec(req: BackendExecRequest): Promise<CommandResult> {
    this.#checkAlive();
    const clock = this.ctx.clock;
    const startedAt = clock.monotonic();
    const guest = this.#guest;
    const id = guest.newId();
    const body = b64(commandSpec(req.command, req.args, req.env, req.cwd));
    const stdin = b64(req.stdin ?? new Uint8Array());
    const answer = guest.request(id, `X ${id} ${(req.timeout_ms / 1000).toFixed(3)} ${req.max_output_bytes} ${body.length} ${stdin.length}`, [body, stdin]);
    const onAbort = () => guest.write(`K ${id}`);
    req.signal?.addEventListener("abort", onAbort, { once: true });
    // The guest kills the command at its timeout; the host kills the whole VM if the guest goes quiet.
    let backstop = false;
    const timer = clock.setTimeout(() => {
      backstop = true;
      void guest.kill().then(() => this.#fail(`the guest did not answer within ${this.ctx.settings.microvm.command_grace_ms} ms past a command's timeout; the VMM was killed`));
    }, req.timeout_ms + this.ctx.settings.microvm.command_grace_ms);
    let reply: GuestReply;
    try {
      reply = await answer;
    } catch (err) {
      if (!backstop) throw err;
      reply = { rc: 137, flags: "t", fields: [] };
    } finally {
      clock.clearTimeout(timer);
      req.signal?.removeEventListener("abort", onAbort);
    }
    if (reply.rc === 125 && !reply.flags.includes("t")) {
      throw new SandboxError("SANDBOX_BACKEND_FAILED", `cannot start the command in the guest: ${reply.fields[1]?.toString() ?? ""}`);
    }
    const out = new CappedOutput(req.max_output_bytes);
    const err = new CappedOutput(req.max_output_bytes);
    out.push(reply.fields[0] ?? Buffer.alloc(0));
    err.push(reply.fields[1] ?? Buffer.alloc(0));
    return {
      exit_code: reply.rc,
      stdout: out.text(),
      stderr: err.text(),
      duration_ms: clock.monotonic() - startedAt,
      timed_out: reply.flags.includes("t"),
      oom_killed: reply.flags.includes("o"),
      truncated: out.truncated || err.truncated,
    };
  }

  async spawn(req: BackendSpawnRequest): Promise<SandboxProcess> {
    this.#checkAlive();
    const guest = this.#guest;
    const id = guest.newId();
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const body = b64(script(req.command, req.args, req.env, req.cwd));
    const end = () => {
      stdout.end();
      stderr.end();
    };
    const answer = guest.request(id, `S ${id} ${req.timeout_ms > 0 ? (req.timeout_ms / 1000).toFixed(3) : "0"} ${body.length}`, [body], {
      onData: (tag, chunk) => (tag === "O" ? stdout : stderr).write(chunk),
      onEnd: end,
    });
    const exited = answer.then(
      (r): ProcessExit => {
        end();
        return { exit_code: r.rc, ...(r.rc === 137 ? { signal: "SIGKILL" } : {}), timed_out: r.flags.includes("t"), oom_killed: r.flags.includes("o") };
      },
      (): ProcessExit => {
        end();
        return { exit_code: 137, signal: "SIGKILL", timed_out: false, oom_killed: false };
      },
    );
    const stdin = new PassThrough();
    stdin.on("data", (c: Buffer) => {
      const data = b64(c);
      if (guest.alive) guest.write(`P ${id} ${data.length}`, [data]);
    });
    stdin.on("finish", () => guest.alive && guest.write(`C ${id}`));
    return { stdin, stdout, stderr, exited, kill: () => void (guest.alive && guest.write(`K ${id}`)) };
  }

  async writeFile(relPath: string, data: Uint8Array): Promise<void> {
    const payload = b64(data);
    const r = await this.#ask("W", [b64(relPath), String(payload.length)], [payload]);
    if (r.rc === 3) throw escape(relPath);
    if (r.rc !== 0) throw new SandboxError("SANDBOX_BACKEND_FAILED", `cannot write "${relPath}" in the guest (rc ${r.rc})`);
  }

  async readFile(relPath: string, maxBytes: number): Promise<Uint8Array> {
    const r = await this.#ask("G", [b64(relPath), String(maxBytes)]);
    if (r.rc === 2) throw new SandboxError("FILE_NOT_FOUND", `No such file in the sandbox workspace: "${relPath}"`, { details: { path: relPath } });
    if (r.rc === 3) throw escape(relPath);
    if (r.rc === 4) {
      const size = Number(r.fields[0]?.toString().trim());
      throw new SandboxError("FILE_TOO_LARGE", `"${relPath}" is ${size} bytes; the cap is ${maxBytes}`, { details: { path: relPath, size, max_bytes: maxBytes } });
    }
    if (r.rc !== 0) throw new SandboxError("SANDBOX_BACKEND_FAILED", `cannot read "${relPath}" in the guest (rc ${r.rc})`);
    return r.fields[0] ?? Buffer.alloc(0);
  }

  async usage(): Promise<BackendUsage> {
    const host = await this.cgroup.read();
    const limit = this.spec.limits.memory_mb * MiB;
    if (this.#failed || !this.#guest.alive) return { memory_bytes: 0, memory_limit_bytes: limit, cpu_time_ms: host.cpu_time_ms, pids: 0 };
    const r = await this.#ask("U", []);
    const [pids, memory] = (r.fields[0]?.toString() ?? "").trim().split(" ").map(Number);
    return { memory_bytes: memory ?? 0, memory_limit_bytes: limit, cpu_time_ms: host.cpu_time_ms, pids: pids ?? 0 };
  }

  /** The VMM's host pid (tests and diagnostics). */
  get vmmPid(): number | undefined {
    return this.#guest.pid;
  }
}

function escape(relPath: string): SandboxError {
  return new SandboxError("PATH_ESCAPE", `Path "${relPath}" escapes the sandbox workspace: a component is a symlink or not a directory, or the file is not regular`, {
    details: { path: relPath },
  });
}
