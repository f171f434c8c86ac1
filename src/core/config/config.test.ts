import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigurationError } from "../errors.js";
import { envOverrides, loadConfig, resolveConfig } from "./index.js";

describe("config - loading", () => {
  it("defaults run on one machine with no services", () => {
    const c = resolveConfig();
    expect(c.api.bind_address).toBe("127.0.0.1");
    expect(c.api.port).toBe(8080);
    expect(c.api.auth_required).toBe(true);
    expect(c.communication.transport).toBe("memory");
    expect(c.store.kind).toBe("sqlite");
    expect(c.lifecycle.max_agents).toBe(10_000);
    expect(Object.isFrozen(c.lifecycle)).toBe(true);
  });

  it("layers file < env < overrides", () => {
    const dir = mkdtempSync(join(tmpdir(), "symbiont-config-"));
    const file = join(dir, "symbiont.yaml");
    writeFileSync(file, "api:\n  port: 9000\n  enable_cors: true\nlifecycle:\n  max_agents: 5\n");
    const c = loadConfig({
      file,
      env: { SYMBIONT_API__PORT: "9100", SYMBIONT_LIFECYCLE__MAX_AGENTS: "7", SYMBIONT_REQUIRE_TIERS: "process" },
      overrides: { lifecycle: { max_agents: 9 } },
    });
    expect(c.api.port).toBe(9100);
    expect(c.api.enable_cors).toBe(true);
    expect(c.lifecycle.max_agents).toBe(9);
  });

  it("reads JSON files", () => {
    const dir = mkdtempSync(join(tmpdir(), "symbiont-config-"));
    const file = join(dir, "c.json");
    writeFileSync(file, JSON.stringify({ data_dir: "/tmp/x" }));
    expect(loadConfig({ file, env: {} }).data_dir).toBe("/tmp/x");
  });

  it("maps SYMBIONT_ names to paths and ignores unrelated ones", () => {
    expect(envOverrides({ SYMBIONT_DATA_DIR: "/d", SYMBIONT_API__ENABLE_CORS: "true", SYMBIONT_FOO: "1" })).toEqual({
      data_dir: "/d",
      api: { enable_cors: true },
    });
  });

  it("invalid values name their path; unknown keys are refused", () => {
    let caught: unknown;
    try {
      resolveConfig({ api: { port: 70_000 }, lifecycle: { max_agents: 0 }, bogus: 1 } as never);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigurationError);
    const paths = (caught as ConfigurationError).issues.map((i) => i.path).sort();
    expect(paths).toEqual(["", "api.port", "lifecycle.max_agents"]);
  });

  it("a missing or malformed file is a ConfigurationError naming the file", () => {
    expect(() => loadConfig({ file: "/nonexistent/symbiont.yaml", env: {} })).toThrow(/nonexistent\/symbiont.yaml/);
    const dir = mkdtempSync(join(tmpdir(), "symbiont-config-"));
    const file = join(dir, "bad.yaml");
    writeFileSync(file, "- just\n- a list\n");
    expect(() => loadConfig({ file, env: {} })).toThrow(ConfigurationError);
  });
});
