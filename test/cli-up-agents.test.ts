import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const CLI = ["--import", "tsx", "src/cli/bin.ts"];

function start(args: string[]) {
  const child = spawn(process.execPath, [...CLI, "up", ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, SYMBIONT_LOG_LEVEL: "warn" } });
  const out = { stdout: "", stderr: "" };
  child.stdout.on("data", (d: Buffer) => (out.stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out.stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  return { child, out, exited };
}

describe("cli - symbiont up --agents DIR", () => {
  it("an invalid .symbi file stops start-up with file:line:col and exit 1, nothing served", async () => {
    const dir = mkdtempSync(join(tmpdir(), "symbiont-up-agents-"));
    writeFileSync(join(dir, "ok.symbi"), "agent ok {\n with { 1 }\n}\n");
    writeFileSync(join(dir, "broken.symbi"), 'agent broken {\n with sandbox = "vmware" { 1 }\n}\n');
    const { out, exited } = start(["--port", "0", "--agents", dir, "--data-dir", join(dir, "data")]);
    expect(await exited).toBe(1);
    expect(out.stderr).toContain(`DSL_EXTRACTION_ERROR: cannot load agents from ${dir}:`);
    expect(out.stderr).toContain(`${join(dir, "broken.symbi")}:2:17: unknown sandbox tier "vmware"`);
    expect(out.stdout).not.toContain("admin API key");
  });

  it("loads every agent of the directory before serving", async () => {
    const dir = mkdtempSync(join(tmpdir(), "symbiont-up-agents-"));
    writeFileSync(join(dir, "a.symbi"), "agent alpha {\n with { 1 }\n}\nagent beta {\n with { 2 }\n}\n");
    const { child, out, exited } = start(["--port", "0", "--insecure-no-auth", "--agents", dir, "--data-dir", join(dir, "data"), "--log-level", "info"]);
    try {
      const until = Date.now() + 20_000;
      while (!/listening on (http:\/\/[^"\s]+)/.test(out.stdout + out.stderr) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      const url = /listening on (http:\/\/[^"\s]+)/.exec(out.stdout + out.stderr)?.[1];
      expect(url, out.stderr).toBeDefined();
      const agents = (await (await fetch(`${url}/api/v1/agents`)).json()) as { name: string; state: string }[];
      expect(agents.map((a) => [a.name, a.state]).sort()).toEqual([
        ["alpha", "Running"],
        ["beta", "Running"],
      ]);
    } finally {
      child.kill("SIGTERM");
      await exited;
    }
  });
});
