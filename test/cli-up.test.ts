import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === "object" && addr ? addr.port : 0));
    });
  });
}

async function waitForHealth(url: string, deadlineMs: number): Promise<Response> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    try {
      return await fetch(url);
    } catch (err) {
      if (Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

const CLI = ["--import", "tsx", "src/cli/bin.ts"];

describe("cli - symbiont up", () => {
  it("serves the health probe in the spec's exact shape and exits 0 within 2 s of SIGTERM", async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [...CLI, "up", "--port", String(port), "--data-dir", mkdtempSync(join(tmpdir(), "symbiont-up-"))], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, SYMBIONT_LOG_LEVEL: "warn" },
    });
    let stderr = "";
    let stdout = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      const res = await waitForHealth(`http://127.0.0.1:${port}/api/v1/health`, 15_000);
      // First start: an admin key is created and printed once; it works, and no key is needed for health.
      const key = /^\s+([0-9a-f]{16}\.[A-Za-z0-9_-]{43})$/m.exec(stdout)?.[1];
      expect(key, stdout).toBeDefined();
      expect((await fetch(`http://127.0.0.1:${port}/api/v1/agents`)).status).toBe(401);
      const agents = await fetch(`http://127.0.0.1:${port}/api/v1/agents`, { headers: { authorization: `Bearer ${key}` } });
      expect(agents.status).toBe(200);
      expect(await agents.json()).toEqual([]);
      expect(res.status).toBe(200);
      const body = (await res.json()) as Record<string, unknown>;
      expect(Object.keys(body).sort()).toEqual(["status", "timestamp", "uptime_seconds", "version"]);
      expect(body.status).toBe("healthy");
      expect(Number.isInteger(body.uptime_seconds)).toBe(true);
      expect(body.timestamp).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
      expect(body.version).toBe("0.1.0");

      const missing = await fetch(`http://127.0.0.1:${port}/api/v1/no-such-route`);
      expect(missing.status).toBe(404);
      expect(await missing.json()).toMatchObject({ code: "NOT_FOUND", error: expect.any(String) });
    } finally {
      const sentAt = Date.now();
      child.kill("SIGTERM");
      const code = await exited;
      expect(code, stderr).toBe(0);
      expect(Date.now() - sentAt).toBeLessThan(2_000);
    }
  });

  it("prints its version and help", async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = spawn(process.execPath, [...CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        child.stdout.on("data", (d: Buffer) => (out += d.toString()));
        child.on("exit", (code) => resolve({ code, out }));
      });
    const v = await run(["--version"]);
    expect(v).toEqual({ code: 0, out: "0.1.0\n" });
    const h = await run(["--help"]);
    expect(h.code).toBe(0);
    expect(h.out).toContain("up [options]");
  });

  it("refuses --insecure-no-auth on a non-loopback address", async () => {
    const child = spawn(process.execPath, [...CLI, "up", "--insecure-no-auth", "--host", "0.0.0.0", "--port", "0", "--data-dir", mkdtempSync(join(tmpdir(), "symbiont-up-"))], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, SYMBIONT_LOG_LEVEL: "warn" },
    });
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    expect(code).toBe(1);
    expect(err).toContain("--insecure-no-auth is allowed only on a loopback address");
  });

  it("rejects a bad port with a clear message and a non-zero exit", async () => {
    const child = spawn(process.execPath, [...CLI, "up", "--port", "99999"], { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    expect(code).toBe(1);
    expect(err).toContain("--port must be an integer between 0 and 65535");
  });
});
