/**
 * The escape-attempt contract every sandbox tier must pass, plus the happy paths. Each attempt is asserted by
 * its observable result (the canary's content never shows up, the host file is not written, the host server
 * sees no connection, the process is gone), never just by "did not throw".
 *
 * Called from each tier's test: `await describeSandboxContract({ name: "process", tier: "Tier0", leftovers })`.
 * A tier the host cannot run skips with the printed reason (fails under SYMBIONT_REQUIRE_TIERS).
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile, chmod } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requirement } from "../../test/helpers/requirements.js";
import type { AuthorizationRequest, Authorizer } from "../core/authorizer.js";
import { SystemClock } from "../core/clock.js";
import { resolveConfig, type RuntimeConfigInput } from "../core/config/index.js";
import { RuntimeEvents, type RuntimeEvent } from "../core/events.js";
import { AgentId, type SandboxId } from "../core/ids.js";
import { silentLogger } from "../core/logger.js";
import type { SecurityTier } from "../core/types.js";
import { createSandboxOrchestrator, type DefaultSandboxOrchestrator } from "./orchestrator.js";
import type { SandboxConfig } from "./types.js";

export interface SandboxHarness {
  readonly orchestrator: DefaultSandboxOrchestrator;
  readonly dataDir: string;
  readonly workspaceRoot: string;
  /** A folder on the mount allowlist. */
  readonly allowedDir: string;
  readonly events: RuntimeEvent[];
  readonly requests: AuthorizationRequest[];
  /** Actions the test authorizer denies (sandbox.network by default, like the built-in one). */
  readonly denied: Set<string>;
  config(overrides?: Partial<SandboxConfig> & { memory_mb?: number; cpu_cores?: number; timeout_ms?: number }): SandboxConfig;
  close(): Promise<void>;
}

/** An orchestrator on a fresh data dir with an authorizer the test controls. */
export async function makeSandboxHarness(sandbox: RuntimeConfigInput["sandbox"] = {}): Promise<SandboxHarness> {
  const dataDir = await mkdtemp(join(tmpdir(), "symbiont-sbx-"));
  // The sandbox user must be able to reach its workspace under the data dir.
  await chmod(dataDir, 0o711);
  const allowedDir = join(dataDir, "allowed");
  await mkdir(allowedDir);
  const config = resolveConfig({ data_dir: dataDir, sandbox: { mount_allowlist: [allowedDir], ...sandbox } });
  const clock = new SystemClock();
  const logger = silentLogger();
  const stream = new RuntimeEvents(clock, logger);
  const events: RuntimeEvent[] = [];
  stream.onAny((e) => events.push(e));
  const requests: AuthorizationRequest[] = [];
  const denied = new Set(["sandbox.network"]);
  const authorizer: Authorizer = {
    async check(req) {
      requests.push(req);
      return denied.has(req.action) ? { allowed: false, policy_id: "test", reason: "denied in test" } : { allowed: true };
    },
  };
  const orchestrator = await createSandboxOrchestrator({ config: config.sandbox, dataDir, clock, logger, events: stream, authorizer });
  const agent_id = AgentId.new();
  return {
    orchestrator,
    dataDir,
    workspaceRoot: join(dataDir, "sandboxes"),
    allowedDir,
    events,
    requests,
    denied,
    config(o = {}) {
      const { memory_mb = 64, cpu_cores = 1, timeout_ms = 15_000, ...rest } = o;
      return {
        agent_id,
        security_tier: config.sandbox.default_tier,
        resource_limits: { memory_mb, cpu_cores, disk_io_mbps: 100, network_io_mbps: 10, execution_timeout: timeout_ms, idle_timeout: 60_000 },
        network_config: { enabled: false },
        filesystem_config: { mounts: [] },
        environment_variables: {},
        ...rest,
      };
    },
    async close() {
      await orchestrator.shutdown();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface SandboxContractOptions {
  /** Tier name as used by SYMBIONT_REQUIRE_TIERS: process, docker, gvisor, firecracker. */
  readonly name: string;
  readonly tier: SecurityTier;
  /** Host-side remains of a destroyed sandbox (cgroup dirs, containers, directories, processes); [] when clean. */
  readonly leftovers: (id: SandboxId, h: SandboxHarness) => Promise<string[]>;
}

async function listen(): Promise<{ server: Server; port: number; connections: () => number }> {
  let count = 0;
  const server = createServer((s) => {
    count++;
    s.end("host-secret-banner\n");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return { server, port, connections: () => count };
}

export async function describeSandboxContract(opts: SandboxContractOptions): Promise<void> {
  const h = await makeSandboxHarness({ default_tier: opts.tier });
  const req = await requirement(opts.name, async () => {
    try {
      await h.orchestrator.prepareTier(opts.tier);
      return true;
    } catch (err) {
      return (err as Error).message;
    }
  });
  if (!req.available) await h.close();

  // Container tiers on a loaded 2-core machine need more than the default per-test time.
  describe.skipIf(!req.available)(`sandbox contract - ${opts.name}`, { timeout: 60_000 }, () => {
    const o = h.orchestrator;
    let main: SandboxId;
    const secretName = `SYMBIONT_HOST_SECRET_${randomBytes(4).toString("hex")}`;
    const secretValue = `secret-${randomBytes(8).toString("hex")}`;
    const canary = `canary-${randomBytes(8).toString("hex")}`;
    const canaryPath = join(tmpdir(), `symbiont-canary-${randomBytes(4).toString("hex")}`);
    const sh = (id: SandboxId, script: string, timeout_ms?: number) =>
      o.executeCommand(id, "sh", ["-c", script], timeout_ms ? { timeout_ms } : {});
    /** The sandbox's process count once killed processes are reaped (reaping is asynchronous). */
    const settledPids = async (id: SandboxId, target: number): Promise<number> => {
      let pids = (await o.getSandboxUsage(id)).pids;
      for (let i = 0; i < 20 && pids > target; i++) {
        await new Promise((r) => setTimeout(r, 100));
        pids = (await o.getSandboxUsage(id)).pids;
      }
      return pids;
    };

    beforeAll(async () => {
      process.env[secretName] = secretValue;
      await writeFile(canaryPath, canary, { mode: 0o644 });
      await writeFile(join(h.dataDir, "canary.txt"), canary, { mode: 0o644 });
      main = await o.createSandbox(h.config({ environment_variables: { GREETING: "hello sandbox" } }));
      await o.startSandbox(main);
    });

    afterAll(async () => {
      delete process.env[secretName];
      await rm(canaryPath, { force: true });
      await h.close();
    });

    it("happy path - runs a command and returns its output and exit code", async () => {
      const r = await sh(main, "echo out; echo err >&2; exit 3");
      expect(r).toMatchObject({ exit_code: 3, stdout: "out\n", stderr: "err\n", timed_out: false, oom_killed: false, truncated: false });
      expect(r.duration_ms).toBeGreaterThan(0);
      expect((await o.getSandboxStatus(main)).state).toBe("Running");
    });

    it("happy path - configured env vars are visible, the host's environment is not", async () => {
      const r = await o.executeCommand(main, "env", []);
      expect(r.stdout).toContain("GREETING=hello sandbox");
      expect(r.stdout).not.toContain(secretName);
      expect(r.stdout).not.toContain(secretValue);
      const extra = await sh(main, 'echo "$GREETING/$EXTRA"', undefined);
      expect(extra.stdout).toBe("hello sandbox/\n");
      const withEnv = await o.executeCommand(main, "sh", ["-c", 'echo "$EXTRA"'], { env: { EXTRA: "per-command" } });
      expect(withEnv.stdout).toBe("per-command\n");
      await expect(o.executeCommand(main, "true", [], { env: { "BAD-NAME": "x" } })).rejects.toMatchObject({ code: "SANDBOX_CONFIG_INVALID" });
    });

    it("happy path - upload, transform in the sandbox, download; the workspace persists across commands", async () => {
      const local = join(h.dataDir, "input.txt");
      await writeFile(local, "hello world\n");
      await o.uploadFile(main, local, "data/in.txt");
      expect((await sh(main, "tr a-z A-Z < data/in.txt > /workspace/data/out.txt")).exit_code).toBe(0);
      expect((await sh(main, "cat data/out.txt")).stdout).toBe("HELLO WORLD\n");
      const back = join(h.dataDir, "out", "result.txt");
      await o.downloadFile(main, "/workspace/data/out.txt", back);
      expect(await readFile(back, "utf8")).toBe("HELLO WORLD\n");
      const stdin = await o.executeCommand(main, "sh", ["-c", "cat > from-stdin; wc -c < from-stdin"], { stdin: "12345" });
      expect(stdin.stdout.trim()).toBe("5");
      const actions = h.requests.map((r) => r.action);
      expect(actions).toEqual(expect.arrayContaining(["sandbox.create", "sandbox.exec", "file.upload", "file.download"]));
      const transfers = h.events.filter((e) => e.type === "sandbox.file_transferred");
      expect(transfers.length).toBeGreaterThanOrEqual(2);
    });

    it("escape - a canary file on the host cannot be read", async () => {
      const r = await sh(main, `cat ${canaryPath} ${h.dataDir}/canary.txt; ls / /tmp; cat /proc/1/environ; true`);
      expect(r.stdout + r.stderr).not.toContain(canary);
      expect(r.stdout).not.toContain("symbiont-canary");
    });

    it("escape - nothing outside the workspace can be written", async () => {
      const targets = ["/symbiont-pwned", "/usr/symbiont-pwned", "/etc/symbiont-pwned", `${h.dataDir}/symbiont-pwned`];
      for (const t of targets) {
        const r = await sh(main, `echo pwned > ${t}`);
        expect(r.exit_code, t).not.toBe(0);
        expect(existsSync(t), t).toBe(false);
      }
      // /tmp is writable but private: the host's /tmp does not see it.
      const name = `symbiont-private-${randomBytes(4).toString("hex")}`;
      expect((await sh(main, `echo x > /tmp/${name} && cat /tmp/${name}`)).stdout).toBe("x\n");
      expect(existsSync(join("/tmp", name))).toBe(false);
    });

    it("escape - a TCP server on host loopback cannot be reached; network is off by default", async () => {
      const srv = await listen();
      try {
        const r = await sh(main, `busybox nc -w 2 127.0.0.1 ${srv.port} </dev/null; echo "rc=$?"`);
        expect(r.stdout).not.toContain("host-secret-banner");
        expect(r.stdout).not.toContain("rc=0");
        expect(srv.connections()).toBe(0);
      } finally {
        srv.server.close();
      }
      await expect(o.createSandbox(h.config({ network_config: { enabled: true } }))).rejects.toMatchObject({ code: "POLICY_DENIED" });
    });

    it("limits - CPU spin past the timeout is killed and leaves no process behind", async () => {
      const before = (await o.getSandboxUsage(main)).pids;
      const r = await sh(main, "sleep 300 & while :; do :; done", 1500);
      expect(r.timed_out).toBe(true);
      expect(r.exit_code).not.toBe(0);
      expect(await settledPids(main, before)).toBeLessThanOrEqual(before);
      expect(h.events.some((e) => e.type === "sandbox.security_event" && e.kind === "timed_out")).toBe(true);
    });

    it("limits - output beyond the cap is cut and flagged", async () => {
      const r = await sh(main, "yes abcdefgh | head -c 3000000; echo done >&2");
      expect(r.truncated).toBe(true);
      expect(r.stdout.length).toBe(1024 * 1024);
      expect(r.stderr).toBe("done\n");
      expect(r.exit_code).toBe(0);
    });

    it("limits - allocating past the memory limit is OOM-killed", async () => {
      const id = await o.createSandbox(h.config({ memory_mb: 32 }));
      await o.startSandbox(id);
      const r = await sh(id, "dd if=/dev/zero of=/dev/null bs=96M count=1");
      expect(r.oom_killed).toBe(true);
      expect(r.exit_code).toBe(137);
      const ok = await sh(id, "echo still-usable");
      expect(ok.stdout).toBe("still-usable\n");
      await o.destroySandbox(id);
    });

    it("limits - a fork bomb is contained; other sandboxes and the runtime stay responsive", async () => {
      const bomb = await o.createSandbox(h.config({ cpu_cores: 0.5 }));
      await o.startSandbox(bomb);
      const idle = (await o.getSandboxUsage(bomb)).pids;
      const running = sh(bomb, "f() { f | f & }; f; while :; do :; done", 4000);
      await new Promise((r) => setTimeout(r, 1500));
      const t0 = performance.now();
      const alive = await sh(main, "echo alive");
      expect(alive.stdout).toBe("alive\n");
      expect(performance.now() - t0).toBeLessThan(5000);
      const usage = await o.getSandboxUsage(bomb);
      expect(usage.pids).toBeLessThanOrEqual(256);
      const r = await running;
      // Killed: by the timeout, or (gVisor) by the sandbox's limits ending its kernel first.
      expect(r.exit_code).toBe(137);
      expect(await settledPids(bomb, idle)).toBeLessThanOrEqual(idle);
      expect((await sh(bomb, "echo usable")).stdout).toBe("usable\n");
      await o.destroySandbox(bomb);
    });

    it("escape - upload with ../, absolute paths or through a planted symlink is PATH_ESCAPE", async () => {
      const local = join(h.dataDir, "up.txt");
      await writeFile(local, "x");
      for (const p of ["../escape.txt", "a/../../escape.txt", "/etc/symbiont-upload", "/workspace/../etc/x", "/tmp/x"]) {
        await expect(o.uploadFile(main, local, p), p).rejects.toMatchObject({ code: "PATH_ESCAPE" });
      }
      const outside = join(h.dataDir, "outside");
      await mkdir(outside);
      await chmod(outside, 0o777);
      expect((await sh(main, `ln -s / rootlink && ln -s ${outside} outlink`)).exit_code).toBe(0);
      await expect(o.uploadFile(main, local, "rootlink/tmp/symbiont-upload")).rejects.toMatchObject({ code: "PATH_ESCAPE" });
      await expect(o.uploadFile(main, local, "outlink/escaped")).rejects.toMatchObject({ code: "PATH_ESCAPE" });
      expect(existsSync(join(outside, "escaped"))).toBe(false);
      expect(existsSync("/tmp/symbiont-upload")).toBe(false);
      expect(h.events.some((e) => e.type === "sandbox.security_event" && e.kind === "path_escape")).toBe(true);
    });

    it("escape - download of a symlink to /etc/shadow is PATH_ESCAPE", async () => {
      expect((await sh(main, "ln -s /etc/shadow shadow && ln -s /etc etclink")).exit_code).toBe(0);
      const dest = join(h.dataDir, "stolen");
      await expect(o.downloadFile(main, "shadow", dest)).rejects.toMatchObject({ code: "PATH_ESCAPE" });
      await expect(o.downloadFile(main, "etclink/shadow", dest)).rejects.toMatchObject({ code: "PATH_ESCAPE" });
      await expect(o.downloadFile(main, "../../../etc/shadow", dest)).rejects.toMatchObject({ code: "PATH_ESCAPE" });
      expect(existsSync(dest)).toBe(false);
      await expect(o.downloadFile(main, "no-such-file", dest)).rejects.toMatchObject({ code: "FILE_NOT_FOUND" });
    });

    it("escape - each forbidden mount is MOUNT_DENIED", async () => {
      const link = join(h.allowedDir, "etc-link");
      await symlink("/etc", link).catch(() => undefined);
      const forbidden = ["/", "/etc", "/proc", "/sys", "/root", "/var/run/docker.sock", "/run/docker.sock", "/etc/passwd", `${h.allowedDir}/../..`, link, "/var", "/usr", "relative/path"];
      for (const host_path of forbidden) {
        const cfg = h.config({ filesystem_config: { mounts: [{ host_path, sandbox_path: "/mnt/data", read_only: true }] } });
        await expect(o.createSandbox(cfg), host_path).rejects.toMatchObject({ code: "MOUNT_DENIED" });
      }
      const shadowing = h.config({ filesystem_config: { mounts: [{ host_path: h.allowedDir, sandbox_path: "/usr/bin", read_only: true }] } });
      await expect(o.createSandbox(shadowing)).rejects.toMatchObject({ code: "MOUNT_DENIED" });
      expect(h.events.filter((e) => e.type === "sandbox.security_event" && e.kind === "mount_denied").length).toBeGreaterThanOrEqual(forbidden.length);
    });

    it("mounts - an allowlisted folder is mounted read-only when asked and the policy allows", async () => {
      await writeFile(join(h.allowedDir, "shared.txt"), "shared\n", { mode: 0o644 });
      const cfg = h.config({ filesystem_config: { mounts: [{ host_path: h.allowedDir, sandbox_path: "/mnt/shared", read_only: true }] } });
      h.denied.add("sandbox.mount");
      await expect(o.createSandbox(cfg)).rejects.toMatchObject({ code: "POLICY_DENIED" });
      h.denied.delete("sandbox.mount");
      const id = await o.createSandbox(cfg);
      await o.startSandbox(id);
      expect((await sh(id, "cat /mnt/shared/shared.txt")).stdout).toBe("shared\n");
      expect((await sh(id, "echo x > /mnt/shared/new.txt")).exit_code).not.toBe(0);
      expect(existsSync(join(h.allowedDir, "new.txt"))).toBe(false);
      expect(h.requests.some((r) => r.action === "sandbox.mount" && r.resource?.endsWith("/allowed"))).toBe(true);
      await o.destroySandbox(id);
    });

    it("spawnProcess - a long-lived process talks over stdin/stdout and is killed by stop", async () => {
      const id = await o.createSandbox(h.config());
      await o.startSandbox(id);
      const p = await o.spawnProcess(id, "sh", ["-c", 'while read line; do echo "got:$line"; done']);
      const reply = new Promise<string>((resolve) => p.stdout.once("data", (c: Buffer) => resolve(c.toString())));
      p.stdin.write("ping\n");
      expect(await reply).toBe("got:ping\n");
      await sh(id, "sleep 600 >/dev/null 2>&1 &");
      await o.stopSandbox(id);
      const exit = await p.exited;
      expect(exit.exit_code).not.toBe(0);
      expect((await o.getSandboxUsage(id)).pids).toBe(0);
      await expect(sh(id, "true")).rejects.toMatchObject({ code: "SANDBOX_INVALID_STATE" });
      await o.startSandbox(id);
      expect((await sh(id, "echo restarted")).stdout).toBe("restarted\n");
      await o.destroySandbox(id);
    });

    it("status - wrong-status calls are SANDBOX_INVALID_STATE; every change is an event; destroy leaves nothing", async () => {
      const id = await o.createSandbox(h.config());
      await expect(sh(id, "true")).rejects.toMatchObject({ code: "SANDBOX_INVALID_STATE" });
      await expect(o.stopSandbox(id)).rejects.toMatchObject({ code: "SANDBOX_INVALID_STATE" });
      await o.startSandbox(id);
      await expect(o.startSandbox(id)).rejects.toMatchObject({ code: "SANDBOX_INVALID_STATE" });
      await sh(id, "echo data > file; sleep 600 >/dev/null 2>&1 &");
      const usage = await o.getSandboxUsage(id);
      expect(usage.memory_limit_bytes).toBeGreaterThan(0);
      expect(usage.cpu_time_ms).toBeGreaterThanOrEqual(0);
      await o.stopSandbox(id);
      await o.destroySandbox(id);
      const status = await o.getSandboxStatus(id);
      expect(status.state).toBe("Destroyed");
      expect(status.destroyed_at).toBeGreaterThan(0);
      await expect(o.startSandbox(id)).rejects.toMatchObject({ code: "SANDBOX_INVALID_STATE" });
      await expect(o.destroySandbox(id)).rejects.toMatchObject({ code: "SANDBOX_INVALID_STATE" });
      expect(await opts.leftovers(id, h)).toEqual([]);
      const changes = h.events.filter((e) => e.type === "sandbox.state_changed" && e.sandbox_id === id).map((e) => (e as { to: string }).to);
      expect(changes).toEqual(["Starting", "Running", "Stopped", "Destroyed"]);
      expect(h.events.some((e) => e.type === "sandbox.created" && e.sandbox_id === id)).toBe(true);
      expect((await o.listSandboxes()).map((s) => s.id)).not.toContain(id);
    });
  });
}
