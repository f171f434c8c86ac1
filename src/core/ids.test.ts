import { describe, expect, it } from "vitest";
import { AgentId, MessageId, TaskId } from "./ids.js";
import { ValidationError } from "./errors.js";

describe("ids", () => {
  it("new() mints distinct UUID v4 strings", () => {
    const a = AgentId.new();
    const b = AgentId.new();
    expect(a).not.toBe(b);
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it("parse accepts a UUID and normalises case", () => {
    const id = TaskId.new();
    expect(TaskId.parse(id.toUpperCase())).toBe(id);
  });

  it.each(["", "agent-id-1", "1234", "zzzzzzzz-zzzz-4zzz-8zzz-zzzzzzzzzzzz", 42, null, undefined])(
    "parse rejects %j with a ValidationError",
    (bad) => {
      let caught: unknown;
      try {
        MessageId.parse(bad);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(ValidationError);
      expect((caught as ValidationError).code).toBe("VALIDATION_FAILED");
      expect((caught as ValidationError).message).toContain("MessageId");
    },
  );
});
