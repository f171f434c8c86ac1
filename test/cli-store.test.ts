import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { resolveConfig } from "../src/core/config/index.js";
import { parseAgentConfig } from "../src/core/schemas.js";
import { createRuntime } from "../src/runtime.js";
import { silentLogger } from "../src/core/logger.js";

const CLI = ["--import", "tsx", "src/cli/bin.ts"];

function cli(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...CLI, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, SYMBIONT_LOG_LEVEL: "silent" } });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("exit", (code) => resolve({ code, out, err }));
  });
}

describe("cli - symbiont status and the data dir", () => {
  it("status prints what a runtime left in its data dir, after a graceful stop kept the agents", async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), "symbiont-status-")), "data");
    const runtime = await createRuntime({ config: resolveConfig({ data_dir: dataDir }), logger: silentLogger() });
    for (let i = 0; i < 3; i++) {
      const a = await runtime.lifecycle.createAgent(parseAgentConfig({ name: `s${i}` }));
      if (i > 0) await runtime.lifecycle.initializeAgent(a.id);
      if (i > 1) await runtime.lifecycle.startAgent(a.id);
    }
    await runtime.shutdown();

    const text = await cli(["status", "--data-dir", dataDir]);
    expect(text.code, text.err).toBe(0);
    expect(text.out).toContain(`store: sqlite ${join(dataDir, "state.db")} (schema v2)`);
    expect(text.out).toContain("agents: 3 (Created 1, Ready 1, Running 1)");
    expect(text.out).toContain("tasks: 0");
    const json = await cli(["status", "--data-dir", dataDir, "--json"]);
    expect(JSON.parse(json.out)).toMatchObject({ agents: { total: 3, by_state: { Running: 1 } }, tasks: { total: 0 } });

    const again = await createRuntime({ config: resolveConfig({ data_dir: dataDir }), logger: silentLogger() });
    expect(again.recovery.agents.restored).toBe(3);
    expect(again.recovery.agents.relaunch).toHaveLength(1);
    await again.shutdown();
  });

  it("status on a data dir with no store fails with a clear message", async () => {
    const dir = mkdtempSync(join(tmpdir(), "symbiont-status-"));
    const r = await cli(["status", "--data-dir", dir]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`STORE_UNAVAILABLE: No state store at ${join(dir, "state.db")}`);
  });

  it("up refuses a corrupt store file, naming it, and leaves it as it was", async () => {
    const dir = mkdtempSync(join(tmpdir(), "symbiont-corrupt-"));
    const file = join(dir, "state.db");
    writeFileSync(file, "garbage ".repeat(1_000));
    const r = await cli(["up", "--port", "0", "--data-dir", dir]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("STORE_CORRUPT");
    expect(r.err).toContain(file);
    expect(readFileSync(file, "utf8")).toBe("garbage ".repeat(1_000));
  });
});
