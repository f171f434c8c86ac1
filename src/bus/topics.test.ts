import { describe, expect, it } from "vitest";
import { topicMatches, validatePattern, validateTopic } from "./topics.js";

describe("topics - NATS-style matching", () => {
  it.each([
    ["a.b", "a.b", true],
    ["a.*", "a.b", true],
    ["a.*", "a.b.c", false],
    ["a.*", "a", false],
    ["a.>", "a.b", true],
    ["a.>", "a.b.c.d", true],
    ["a.>", "a", false],
    ["*.b.*", "x.b.y", true],
    ["*.b.*", "x.c.y", false],
    [">", "anything.at.all", true],
    ["a.b", "a.b.c", false],
  ])("topics - %s matches %s: %s", (pattern, topic, expected) => {
    expect(topicMatches(pattern, topic)).toBe(expected);
  });

  it("topics - validation refuses wildcards in topics and misplaced '>' in patterns", () => {
    expect(validateTopic("orders.eu.created")).toBe("orders.eu.created");
    expect(() => validateTopic("orders.*")).toThrow(/wildcards/);
    expect(() => validateTopic("")).toThrow(/non-empty/);
    expect(() => validateTopic("a..b")).toThrow(/token/);
    expect(() => validateTopic("has space")).toThrow(/token/);
    expect(validatePattern("a.*.>")).toBe("a.*.>");
    expect(() => validatePattern("a.>.b")).toThrow(/last token/);
    expect(() => validatePattern("x".repeat(300))).toThrow(/at most/);
  });
});
