/**
 * Tier0 `process`: every command runs in a fresh bubblewrap sandbox (all namespaces unshared, no nested user
 * namespaces, capabilities dropped, cleared environment, read-only system paths, private /tmp, /proc and
 * /dev, the sandbox's workspace bound at /workspace) as an unprivileged host user, inside the sandbox's
 * cgroup (memory, pids, cpu quota). Each command gets its own PID namespace, so when the command returns or
 * is killed, nothing it started survives it.
 *
 * Launch chain, all one pid: `sh` (as root: joins the cgroup) → `setpriv` (drops to the sandbox uid/gid, no
 * groups, no inheritable caps) → `bwrap` (builds the namespaces) → the command. bwrap runs unprivileged, so
 * the workspace root must be reachable (o+x on every ancestor) by the sandbox user; prepare checks that.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, lstatSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { spawnSync } from "node:child_process";
import type { SandboxSettings } from "../core/config/index.js";
import type { Clock } from "../core/clock.js";
import type { ResourceLimits } from "../core/types.js";
import { SandboxError } from "../core/errors.js";
import type {
  BackendExecRequest,
  BackendLimitChange,
  BackendSandbox,
  BackendSandboxSpec,
  BackendSpawnRequest,
  BackendUsage,
  SandboxBackend,
  TierAvailability,
} from "./backend.js";
import { CgroupManager, detectCgroupLayout, type SandboxCgroup } from "./cgroups.js";
import { CappedOutput, commandResult, exitCodeOf } from "./output.js";
import type { CommandResult, ProcessExit, SandboxProcess } from "./types.js";
import { HostWorkspace } from "./workspace.js";

/** Printed (and exit 125) when the wrapper cannot join the cgroup. */
const SETUP_FAILED = "symbiont-sandbox: setup failed";
const WRAPPER =
  `fail() { echo "${SETUP_FAILED}: $1" >&2; exit 125; }; ` +
  'for f in $SYMBIONT_CGROUP_PROCS; do echo $$ > "$f" || fail "cannot join $f"; done; exec "$@"';

export interface ProcessBackendOptions {
  readonly settings: SandboxSettings;
  /** Directory holding one sub-directory per sandbox. */
  readonly workspaceRoot: string;
  readonly clock: Clock;
}

function which(cmd: string): string | undefined {
  if (cmd.startsWith("/")) return existsSync(cmd) ? cmd : undefined;
  const r = spawnSync("sh", ["-c", `command -v "${cmd}"`], { encoding: "utf8" });
  const out = r.stdout.trim();
  return r.status === 0 && out ? out : undefined;
}

/** The first ancestor of `path` (itself included) that `uid`/`gid` cannot search, if any. */
function unreachableBy(path: string, uid: number, gid: number): string | undefined {
  let p = path;
  for (;;) {
    let st;
    try {
      st = statSync(p);
    } catch {
      return p;
    }
    const bit = st.uid === uid ? 0o100 : st.gid === gid ? 0o010 : 0o001;
    if (!(st.mode & bit)) return p;
    if (p === "/") return undefined;
    p = dirname(p);
  }
}

/** bwrap arguments for the read-only system paths: symlinks (usr-merged /bin, /lib) are recreated as links. */
function systemPathArgs(paths: readonly string[]): string[] {
  const args: string[] = [];
  for (const p of paths) {
    let st;
    try {
      st = lstatSync(p);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) args.push("--symlink", readlinkSync(p), p);
    else args.push("--ro-bind", p, p);
  }
  return args;
}

/**
 * Kills a command's whole PID namespace by killing its init (bwrap's child): the kernel then kills every
 * process in it, and bwrap (our child) reaps the init and exits. Killing bwrap itself instead would orphan
 * the init to the host's pid 1, which on some hosts never reaps it, leaving a zombie charged to the cgroup.
 */
function killNamespace(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  let inits: number[] = [];
  try {
    inits = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    inits = [];
  }
  if (inits.length === 0) {
    child.kill("SIGKILL");
    return;
  }
  for (const pid of inits) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

export class ProcessBackend implements SandboxBackend {
  readonly tier = "Tier0" as const;
  readonly name = "process";
  #availability: Promise<TierAvailability> | undefined;
  #cgroups: CgroupManager | undefined;
  #bwrap = "bwrap";
  #setpriv = "setpriv";
  #systemArgs: string[] = [];

  constructor(private readonly options: ProcessBackendOptions) {}

  prepare(): Promise<TierAvailability> {
    return (this.#availability ??= this.#probe());
  }

  async #probe(): Promise<TierAvailability> {
    const s = this.options.settings.process;
    const missing: string[] = [];
    const bwrap = which(s.bwrap_path);
    const setpriv = which(s.setpriv_path);
    if (!bwrap) missing.push(`bubblewrap (${s.bwrap_path}) is not installed`);
    if (!setpriv) missing.push(`setpriv (${s.setpriv_path}) is not installed`);
    if (process.getuid?.() !== 0) missing.push("the runtime must run as root to manage cgroups and drop to the sandbox user");
    await mkdir(this.options.workspaceRoot, { recursive: true, mode: 0o711 });
    const unreachable = unreachableBy(this.options.workspaceRoot, s.uid, s.gid);
    if (unreachable) {
      missing.push(
        `the workspace root ${this.options.workspaceRoot} is not reachable by uid ${s.uid}: ${unreachable} lacks o+x (chmod o+x it, or set sandbox.workspace_root elsewhere)`,
      );
    }
    const layout = detectCgroupLayout();
    if (typeof layout === "string") missing.push(layout);
    if (missing.length === 0 && typeof layout !== "string") {
      this.#bwrap = bwrap!;
      this.#setpriv = setpriv!;
      this.#systemArgs = systemPathArgs(s.ro_paths);
      this.#cgroups = new CgroupManager(layout, s.cgroup_parent);
      try {
        const orphans = await this.#cgroups.prepare();
        // Sandboxes of a runtime instance that died: their cgroups are gone now, so are their workspaces.
        for (const id of orphans) {
          if (/^[0-9a-f-]{36}$/.test(id)) await new HostWorkspace(join(this.options.workspaceRoot, id), { uid: s.uid, gid: s.gid }).remove();
        }
      } catch (err) {
        missing.push(`cannot create cgroups: ${(err as Error).message}`);
      }
      if (missing.length === 0) {
        const smoke = spawnSync(this.#setpriv, [
          "--reuid", String(s.uid), "--regid", String(s.gid), "--clear-groups",
          this.#bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--as-pid-1", ...this.#systemArgs, "--", "true",
        ], { encoding: "utf8", timeout: 10_000 });
        if (smoke.status !== 0) missing.push(`bubblewrap cannot create a sandbox here: ${smoke.stderr.trim() || smoke.error?.message}`);
      }
    }
    if (missing.length === 0) return { available: true };
    return { available: false, missing, howto: "run scripts/setup-host.sh as root (installs bubblewrap)" };
  }

  async create(spec: BackendSandboxSpec): Promise<BackendSandbox> {
    const cgroups = this.#cgroups;
    if (!cgroups) throw new SandboxError("TIER_UNAVAILABLE", "Tier0 was not prepared");
    const s = this.options.settings.process;
    const workspace = new HostWorkspace(join(this.options.workspaceRoot, spec.id), { uid: s.uid, gid: s.gid });
    await workspace.create();
    let cgroup: SandboxCgroup;
    try {
      cgroup = await cgroups.create(spec.id, {
        memory_bytes: spec.limits.memory_mb * 1024 * 1024,
        cpu_cores: spec.limits.cpu_cores,
        pids: spec.pids_limit,
      });
    } catch (err) {
      await workspace.remove();
      throw err;
    }
    return new ProcessSandbox(spec, workspace, cgroup, {
      bwrap: this.#bwrap,
      setpriv: this.#setpriv,
      systemArgs: this.#systemArgs,
      uid: s.uid,
      gid: s.gid,
      clock: this.options.clock,
    });
  }

  async close(): Promise<void> {
    await this.#cgroups?.close();
  }
}

interface Launch {
  readonly bwrap: string;
  readonly setpriv: string;
  readonly systemArgs: readonly string[];
  readonly uid: number;
  readonly gid: number;
  readonly clock: Clock;
}

class ProcessSandbox implements BackendSandbox {
  readonly #live = new Set<ChildProcess>();

  constructor(
    private readonly spec: BackendSandboxSpec,
    private readonly workspace: HostWorkspace,
    private readonly cgroup: SandboxCgroup,
    private readonly launch: Launch,
  ) {}

  async start(): Promise<void> {
    // Nothing runs between commands: a sandbox is its cgroup and workspace, which exist from create.
  }

  async stop(): Promise<void> {
    // Wait until our children are reaped: a zombie still counts in pids.current.
    const reaped = [...this.#live].map((child) => new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(undefined) : child.once("exit", r))));
    for (const child of this.#live) killNamespace(child);
    await Promise.race([Promise.all(reaped), new Promise((r) => setTimeout(r, 2000))]);
    await this.cgroup.killAll();
    await Promise.all(reaped);
  }

  async destroy(): Promise<void> {
    await this.stop();
    await this.cgroup.remove();
    await this.workspace.remove();
  }

  #spawn(command: string, args: readonly string[], env: Readonly<Record<string, string>>, cwd: string): ChildProcess {
    const l = this.launch;
    const bwrapArgs = [
      // --as-pid-1: the command is the namespace's init, so bwrap waits for (reaps) it before exiting; with
      // bwrap's own init it exits early and the orphaned init is left to the host's pid 1 to reap.
      "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session", "--as-pid-1",
      "--uid", String(l.uid), "--gid", String(l.gid), "--hostname", "sandbox",
      "--clearenv", "--cap-drop", "ALL",
      ...l.systemArgs,
      "--bind", this.workspace.path, "/workspace",
      "--tmpfs", "/tmp", "--proc", "/proc", "--dev", "/dev",
    ];
    if (this.spec.network) bwrapArgs.push("--share-net");
    for (const m of this.spec.mounts) bwrapArgs.push(m.read_only ? "--ro-bind" : "--bind", m.host_path, m.sandbox_path);
    // The root itself (a tmpfs bwrap builds) becomes read-only; /tmp and /workspace are separate mounts.
    bwrapArgs.push("--remount-ro", "/");
    for (const [k, v] of Object.entries(env)) bwrapArgs.push("--setenv", k, v);
    bwrapArgs.push("--chdir", cwd, "--", command, ...args);
    const child = spawn(
      "/bin/sh",
      ["-c", WRAPPER, "symbiont-sandbox", l.setpriv, "--reuid", String(l.uid), "--regid", String(l.gid),
        "--clear-groups", "--inh-caps=-all", l.bwrap, ...bwrapArgs],
      {
        env: { SYMBIONT_CGROUP_PROCS: this.cgroup.procsFiles().join(" ") },
        stdio: ["pipe", "pipe", "pipe"],
      },
    );
    this.#live.add(child);
    child.once("close", () => this.#live.delete(child));
    return child;
  }

  async exec(req: BackendExecRequest): Promise<CommandResult> {
    const clock = this.launch.clock;
    const startedAt = clock.monotonic();
    const oomBefore = await this.cgroup.oomKills();
    const child = this.#spawn(req.command, req.args, req.env, req.cwd);
    const out = new CappedOutput(req.max_output_bytes);
    const err = new CappedOutput(req.max_output_bytes);
    child.stdout!.on("data", (c: Buffer) => out.push(c));
    child.stderr!.on("data", (c: Buffer) => err.push(c));
    child.stdin!.on("error", () => undefined);
    child.stdin!.end(req.stdin ?? undefined);
    let timedOut = false;
    const timer = clock.setTimeout(() => {
      timedOut = true;
      killNamespace(child);
    }, req.timeout_ms);
    const onAbort = () => killNamespace(child);
    req.signal?.addEventListener("abort", onAbort, { once: true });
    const { code, signal, spawnError } = await new Promise<{
      code: number | null;
      signal: NodeJS.Signals | null;
      spawnError?: Error;
    }>((resolve) => {
      child.once("error", (e) => resolve({ code: null, signal: null, spawnError: e }));
      child.once("close", (c, s) => resolve({ code: c, signal: s }));
    });
    clock.clearTimeout(timer);
    req.signal?.removeEventListener("abort", onAbort);
    if (spawnError) {
      throw new SandboxError("SANDBOX_BACKEND_FAILED", `cannot launch the sandbox: ${spawnError.message}`, { cause: spawnError });
    }
    if (code === 125 && err.text().includes(SETUP_FAILED)) {
      throw new SandboxError("SANDBOX_BACKEND_FAILED", `cannot enter the sandbox's cgroup or workspace: ${err.text().trim()}`);
    }
    const exitCode = exitCodeOf(code, signal);
    const oomKilled = !timedOut && exitCode === 137 && (await this.cgroup.oomKills()) > oomBefore;
    return commandResult(out, err, { exit_code: exitCode, duration_ms: clock.monotonic() - startedAt, timed_out: timedOut, oom_killed: oomKilled });
  }

  async spawn(req: BackendSpawnRequest): Promise<SandboxProcess> {
    const clock = this.launch.clock;
    const oomBefore = await this.cgroup.oomKills();
    const child = this.#spawn(req.command, req.args, req.env, req.cwd);
    let timedOut = false;
    const timer =
      req.timeout_ms > 0
        ? clock.setTimeout(() => {
            timedOut = true;
            killNamespace(child);
          }, req.timeout_ms)
        : undefined;
    const exited = new Promise<ProcessExit>((resolve) => {
      child.once("error", () => resolve({ exit_code: 127, timed_out: false, oom_killed: false }));
      child.once("close", (code, signal) => {
        clock.clearTimeout(timer);
        const exitCode = exitCodeOf(code, signal);
        void this.cgroup.oomKills().then(
          (n) => resolve({ exit_code: exitCode, ...(signal ? { signal } : {}), timed_out: timedOut, oom_killed: !timedOut && exitCode === 137 && n > oomBefore }),
          () => resolve({ exit_code: exitCode, ...(signal ? { signal } : {}), timed_out: timedOut, oom_killed: false }),
        );
      });
    });
    child.stdin!.on("error", () => undefined);
    return {
      stdin: child.stdin!,
      stdout: child.stdout!,
      stderr: child.stderr!,
      exited,
      kill: (sig: NodeJS.Signals = "SIGKILL") => (sig === "SIGKILL" ? killNamespace(child) : void child.kill(sig)),
    };
  }

  writeFile(relPath: string, data: Uint8Array): Promise<void> {
    return this.workspace.writeFile(relPath, data);
  }

  readFile(relPath: string, maxBytes: number): Promise<Uint8Array> {
    return this.workspace.readFile(relPath, maxBytes);
  }

  async usage(): Promise<BackendUsage> {
    const s = this.cgroup.sample();
    return {
      memory_bytes: s.memory_bytes,
      memory_limit_bytes: this.cgroup.memoryLimit,
      cpu_time_ms: s.cpu_time_ms,
      pids: s.pids,
      ...(s.io_read_bytes === undefined ? {} : { io_read_bytes: s.io_read_bytes, io_write_bytes: s.io_write_bytes }),
    };
  }

  updateLimits(limits: ResourceLimits): Promise<BackendLimitChange> {
    return this.cgroup.applyLimits({ memory_bytes: limits.memory_mb * 1024 * 1024, cpu_cores: limits.cpu_cores, pids: this.spec.pids_limit });
  }
}
