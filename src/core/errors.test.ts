import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ERROR_CODES } from "./error-codes.js";
import { AgentId } from "./ids.js";
import { ConfigurationError, InternalError, LifecycleError, RuntimeError, toRuntimeError } from "./errors.js";

describe("errors - hierarchy", () => {
  it("every code maps to a client or server HTTP status", () => {
    for (const [code, info] of Object.entries(ERROR_CODES)) {
      expect(code).toMatch(/^[A-Z][A-Z0-9_]+$/);
      expect(info.status, code).toBeGreaterThanOrEqual(400);
      expect(info.status, code).toBeLessThan(600);
      expect(info.description.length, code).toBeGreaterThan(10);
    }
  });

  it("every code is documented in the README", () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    const missing = Object.keys(ERROR_CODES).filter((code) => !readme.includes(`\`${code}\``));
    expect(missing).toEqual([]);
  });

  it("spec variants carry their code, status and details", () => {
    const id = AgentId.new();
    const e = LifecycleError.invalidStateTransition("Created", "Running", id);
    expect(e).toBeInstanceOf(RuntimeError);
    expect(e).toBeInstanceOf(LifecycleError);
    expect(e.code).toBe("INVALID_STATE_TRANSITION");
    expect(e.status).toBe(409);
    expect(e.family).toBe("Lifecycle");
    expect(e.details).toEqual({ from: "Created", to: "Running", agent_id: id });
    expect(e.name).toBe("LifecycleError");
    expect(LifecycleError.agentNotFound(id).status).toBe(404);
  });

  it("toJSON gives the API error body without stack or cause", () => {
    const cause = new Error("/secret/internal/path");
    const e = LifecycleError.initializationFailed(AgentId.new(), "hook failed", cause);
    const body = JSON.stringify(e.toJSON());
    expect(JSON.parse(body)).toMatchObject({ code: "INITIALIZATION_FAILED", error: expect.any(String) });
    expect(body).not.toContain("/secret/internal/path");
    expect(e.cause).toBe(cause);
  });

  it("ConfigurationError lists every issue in message and details", () => {
    const e = new ConfigurationError("AgentConfig", [
      { path: "name", message: "must not be empty" },
      { path: "resource_limits.memory_mb", message: "too small" },
    ]);
    expect(e.message).toContain("name: must not be empty");
    expect(e.message).toContain("resource_limits.memory_mb: too small");
    expect(e.details?.issues).toHaveLength(2);
  });

  it("toRuntimeError keeps RuntimeErrors and wraps the rest as INTERNAL_ERROR", () => {
    const e = LifecycleError.agentNotFound(AgentId.new());
    expect(toRuntimeError(e)).toBe(e);
    const wrapped = toRuntimeError(new TypeError("boom"));
    expect(wrapped).toBeInstanceOf(InternalError);
    expect(wrapped.code).toBe("INTERNAL_ERROR");
    expect(toRuntimeError("text").message).toBe("text");
  });
});
