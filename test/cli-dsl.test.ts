import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const CLI = ["--import", "tsx", "src/cli/bin.ts"];
const cli = (...args: string[]) => spawnSync(process.execPath, [...CLI, ...args], { encoding: "utf8", timeout: 60_000 });

describe("cli - symbiont check / fmt / run", () => {
  it("check exits 0 on valid files and 1 with file:line:col: message on invalid ones", () => {
    const ok = cli("check", "src/dsl/corpus/valid/data-validator.symbi", "src/dsl/corpus/valid/schedules.symbi");
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toContain("data-validator.symbi: ok (1 agent(s), 0 schedule(s))");
    const bad = cli("check", "src/dsl/corpus/invalid/multiple-errors.symbi");
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim().split("\n")).toEqual([
      "src/dsl/corpus/invalid/multiple-errors.symbi:6:18: expected ';' after the let statement, found 'let'",
      "src/dsl/corpus/invalid/multiple-errors.symbi:13:13: expected an expression, found ')'",
      "src/dsl/corpus/invalid/multiple-errors.symbi:18:5: expected 'capabilities', 'policy', 'function' or 'with' in the agent, found 'return' (statements belong in a 'with' block or a function)",
    ]);
    const dir = mkdtempSync(join(tmpdir(), "symbi-"));
    writeFileSync(join(dir, "x.symbi"), 'agent a {\n with sandbox = "kvm" { 1 }\n}\n');
    const ex = cli("check", join(dir, "x.symbi"));
    expect(ex.status).toBe(1);
    expect(ex.stderr).toContain("x.symbi:2:17: unknown sandbox tier");
  }, 90_000);

  it("fmt prints the canonical layout, --check flags unformatted files, --write rewrites them", () => {
    const dir = mkdtempSync(join(tmpdir(), "symbi-"));
    const file = join(dir, "a.symbi");
    writeFileSync(file, "agent a{with{let x=1;x}}");
    const printed = cli("fmt", file);
    expect(printed.status).toBe(0);
    expect(printed.stdout).toBe("agent a {\n    with {\n        let x = 1;\n        x\n    }\n}\n");
    expect(cli("fmt", "--check", file).status).toBe(1);
    expect(cli("fmt", "--write", file).status).toBe(0);
    expect(readFileSync(file, "utf8")).toBe(printed.stdout);
    expect(cli("fmt", "--check", file).status).toBe(0);
  }, 90_000);

  it("run executes one agent's body and prints its result", () => {
    const dir = mkdtempSync(join(tmpdir(), "symbi-"));
    copyFileSync("src/dsl/corpus/valid/incident-tracker.symbi", join(dir, "t.symbi"));
    const alerts = [
      { id: "a1", service: "db", severity: "high", message: "slow" },
      { id: "a2", service: "db", severity: "critical", message: "down" },
      { id: "a3", service: "web", severity: "low", message: "5xx" },
    ];
    const r = cli("run", join(dir, "t.symbi"), "--input", JSON.stringify({ alerts }), "--log-level", "silent");
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { service: string; severity: string; alerts: string[]; timeline: string[] }[];
    expect(out.map((i) => [i.service, i.severity, i.alerts])).toEqual([
      ["db", "critical", ["a1", "a2"]],
      ["web", "low", ["a3"]],
    ]);
    expect(out[0]?.timeline).toEqual(["a1: slow", "a2: down"]);
    const bad = cli("run", join(dir, "t.symbi"), "--input", "{}");
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("DSL_RUNTIME_ERROR: agent 'incident_tracker': the task input is missing 'alerts'");
  }, 90_000);
});
