import { describe, expect, it } from "vitest";
import { ConfigurationError } from "./errors.js";
import { parseAgentConfig } from "./schemas.js";

function issuesOf(input: unknown): string[] {
  try {
    parseAgentConfig(input);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigurationError);
    expect((err as ConfigurationError).code).toBe("CONFIGURATION_ERROR");
    return (err as ConfigurationError).issues.map((i) => i.path);
  }
  throw new Error("expected a ConfigurationError");
}

describe("schemas - AgentConfig", () => {
  it("fills defaults and mints an id", () => {
    const cfg = parseAgentConfig({ name: "example_agent" });
    expect(cfg.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(cfg.execution_mode).toEqual({ type: "Persistent" });
    expect(cfg.security_tier).toBe("Tier0");
    expect(cfg.priority).toBe("Normal");
    expect(cfg.resource_limits.memory_mb).toBe(512);
    expect(cfg.capabilities).toEqual([]);
    expect(Object.isFrozen(cfg)).toBe(true);
  });

  it("keeps a full spec config as given", () => {
    const cfg = parseAgentConfig({
      name: "example_agent",
      dsl_source: "agent logic",
      execution_mode: { type: "Scheduled", interval: 60_000, cron: "0 */5 * * * *" },
      security_tier: "Tier2",
      resource_limits: {
        memory_mb: 512,
        cpu_cores: 1.5,
        disk_io_mbps: 50,
        network_io_mbps: 10,
        execution_timeout: 3_600_000,
        idle_timeout: 300_000,
      },
      capabilities: ["FileSystem", "Network", { Custom: "gpu" }],
      metadata: { team: "ops" },
      priority: "Critical",
      entrypoint: { command: "/bin/sh", args: ["-c", "echo hi"] },
    });
    expect(cfg.capabilities).toEqual(["FileSystem", "Network", { Custom: "gpu" }]);
    expect(cfg.execution_mode).toEqual({ type: "Scheduled", interval: 60_000, cron: "0 */5 * * * *" });
    expect(cfg.entrypoint).toEqual({ command: "/bin/sh", args: ["-c", "echo hi"] });
  });

  it("names every bad field at once", () => {
    const paths = issuesOf({
      name: "",
      security_tier: "Tier9",
      resource_limits: {
        memory_mb: -1,
        cpu_cores: 0,
        disk_io_mbps: 1,
        network_io_mbps: 1,
        execution_timeout: 1000,
        idle_timeout: 0,
      },
      priority: "Urgent",
    });
    expect(paths).toEqual(
      expect.arrayContaining(["name", "security_tier", "resource_limits.memory_mb", "resource_limits.cpu_cores", "priority"]),
    );
    expect(paths).toHaveLength(5);
  });

  it("rejects a name over 128 characters", () => {
    expect(issuesOf({ name: "x".repeat(129) })).toEqual(["name"]);
    expect(parseAgentConfig({ name: "x".repeat(128) }).name).toHaveLength(128);
  });

  it("rejects oversized metadata", () => {
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, "v"]));
    expect(issuesOf({ name: "a", metadata: many })).toEqual(["metadata"]);
    expect(issuesOf({ name: "a", metadata: { k: "v".repeat(5000) } })).toEqual(["metadata.k"]);
  });

  it("rejects unknown fields, bad ids and bad execution modes", () => {
    expect(issuesOf({ name: "a", colour: "red" })).toEqual([""]);
    expect(issuesOf({ name: "a", id: "agent-1" })).toEqual(["id"]);
    expect(issuesOf({ name: "a", execution_mode: { type: "Scheduled", interval: 0 } })).toEqual(["execution_mode.interval"]);
  });
});
