import { describe, expect, it } from "vitest";
import { main } from "../examples/lifecycle.js";

describe("examples - complete agent lifecycle", () => {
  it("runs the spec's lifecycle example end to end", async () => {
    const lines: string[] = [];
    await main((l) => lines.push(l));
    expect(lines[0]).toMatch(/^Created agent: [0-9a-f-]{36}$/);
    expect(lines).toContain("Agent started successfully");
    expect(lines).toContain('Task Completed: processed {"greeting":"Hello, world!"}');
    expect(lines).toContain("Agent state: Running");
    expect(lines).toContain("Registered agent with communication bus");
    expect(lines).toContain("Received message: Hello, world!");
    expect(lines).toContain("Agent terminated");
    expect(lines.at(-1)).toBe("Unregistered agent from communication bus");
  });
});
