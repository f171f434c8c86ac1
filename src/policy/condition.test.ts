import { describe, expect, it } from "vitest";
import { input } from "../../test/helpers/policy.js";
import { compileCondition } from "./condition.js";
import { PolicySyntaxError } from "./errors.js";
import { compileActionPattern } from "./pattern.js";

const holds = (cond: string, overrides = {}) => compileCondition(cond)(input(overrides));

describe("condition language", () => {
  it("condition - security tier compares by rank with Tier constants", () => {
    expect(holds("tier >= Tier1")).toBe(true);
    expect(holds("tier >= Tier2")).toBe(false);
    expect(holds("tier == Tier1 && agent.tier < Tier3")).toBe(true);
    expect(holds("tier >= Tier0", { tier: null })).toBe(false);
  });

  it("condition - capabilities membership with in, contains and not", () => {
    expect(holds('"FileSystem" in capabilities')).toBe(true);
    expect(holds('"Network" in capabilities')).toBe(false);
    expect(holds('not ("Network" in capabilities)')).toBe(true);
    expect(holds('!contains(agent.capabilities, "Network")')).toBe(true);
    expect(holds("len(capabilities) == 1")).toBe(true);
  });

  it("condition - metadata by field, by index, and missing keys are null", () => {
    expect(holds('metadata.team == "ops"')).toBe(true);
    expect(holds('metadata["team"] == "ops"')).toBe(true);
    expect(holds("metadata.owner == null")).toBe(true);
    expect(holds('"team" in metadata && !("owner" in metadata)')).toBe(true);
    expect(holds('starts_with(metadata.team, "op") && ends_with(upper(metadata.team), "PS")')).toBe(true);
  });

  it("condition - resource requirements, arithmetic and durations", () => {
    expect(holds("resources.memory_mb <= 1024")).toBe(true);
    expect(holds("resources.memory_mb * 4 > 1024")).toBe(true);
    expect(holds("resources.execution_timeout <= 1m")).toBe(true);
    expect(holds("resources.execution_timeout < 30s")).toBe(false);
    expect(holds("resources.execution_timeout == 1.minutes && 2h == 7_200_000")).toBe(true);
    expect(holds("resources.memory_mb <= 1024", { resources: null })).toBe(false);
    expect(holds("(resources.memory_mb + 488) % 1000 == 0 && -resources.cpu_cores == -1")).toBe(true);
  });

  it("condition - time fields are UTC and read at evaluation time", () => {
    const c = compileCondition("time.hour >= 9 && time.hour < 17 && time.weekday >= 1 && time.weekday <= 5");
    expect(c(input({ now: Date.UTC(2025, 0, 6, 12) }))).toBe(true); // Monday noon
    expect(c(input({ now: Date.UTC(2025, 0, 6, 20) }))).toBe(false); // Monday evening
    expect(c(input({ now: Date.UTC(2025, 0, 5, 12) }))).toBe(false); // Sunday
    expect(holds("time.now > 0 && time.year == 2025 && time.month == 1 && time.day == 6 && time.minute == 30")).toBe(true);
  });

  it("condition - action, resource, isolation, agent and request context", () => {
    expect(holds('action == "message.send" && operation == action')).toBe(true);
    expect(holds('glob(resource, "/data/*")', { resource: "/data/x.csv" })).toBe(true);
    expect(holds('glob(resource, "/data/*")', { resource: "/data/a/b" })).toBe(false);
    expect(holds('isolation == "High" && agent.name == "worker" && agent.id == "a-1"')).toBe(true);
    expect(holds("context.network == true && len(context.mounts) == 2", { context: { network: true, mounts: ["a", "b"] } })).toBe(true);
    expect(holds("context.mounts[1] == \"b\"", { context: { mounts: ["a", "b"] } })).toBe(true);
  });

  it("condition - mismatched types compare false instead of throwing", () => {
    expect(holds('tier > "Tier1"')).toBe(false);
    expect(holds("metadata.team < 3")).toBe(false);
    expect(holds("metadata.team + 1 == null")).toBe(true);
    expect(holds("resources.memory_mb / 0 == null")).toBe(true);
    expect(holds("[1, 2] == [1, 2] && 2 in [1, 2, 3] && \"ab\" + \"c\" == \"abc\"")).toBe(true);
  });

  it("condition - precedence follows the DSL (|| lowest, then &&, then equality, then comparison)", () => {
    expect(holds("true || false && false")).toBe(true);
    expect(holds("(true || false) && false")).toBe(false);
    expect(holds("1 + 2 * 3 == 7")).toBe(true);
    expect(holds("1 < 2 == true")).toBe(true);
  });

  it("condition - comments are ignored", () => {
    expect(holds("tier == Tier1 // the agent's tier\n# another comment\n&& true")).toBe(true);
  });

  it.each([
    ["tier >= ", 1, 9, "unexpected end of condition"],
    ["tier >= Tier2 &&\n  capabilites == 1", 2, 3, "unknown name 'capabilites'"],
    ["time.hours > 3", 1, 6, "unknown field 'hours'"],
    ["frobnicate(tier)", 1, 1, "unknown function 'frobnicate'"],
    ["len(tier, tier)", 1, 1, "len() takes 1 argument(s), got 2"],
    ['"open', 1, 1, "unterminated string"],
    ["tier @ 2", 1, 6, "unexpected character '@'"],
    ["(tier == 1", 1, 11, "expected ')'"],
    ["tier == 1 tier", 1, 11, "unexpected 'tier'"],
    ['glob(resource, metadata.x)', 1, 16, "glob() takes a string literal pattern"],
    ["", 1, 1, "empty condition"],
  ])("condition - %j is rejected at %i:%i", (source, line, column, reason) => {
    let err: unknown;
    try {
      compileCondition(source);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PolicySyntaxError);
    expect(err).toMatchObject({ line, column });
    expect((err as PolicySyntaxError).reason).toContain(reason);
  });
});

describe("action patterns", () => {
  it("pattern - exact actions are indexed, wildcards match any run", () => {
    expect(compileActionPattern("message.send").exact).toBe("message.send");
    const p = compileActionPattern("sandbox.*");
    expect(p.exact).toBeNull();
    expect(p.action.test("sandbox.exec")).toBe(true);
    expect(p.action.test("sandboxXexec")).toBe(false);
    expect(compileActionPattern("*").action.test("anything.at.all")).toBe(true);
  });

  it("pattern - resource globs: * within a segment, ** across, ? one character", () => {
    const one = compileActionPattern("file.read:/data/*").resource as RegExp;
    expect(one.test("/data/a.csv")).toBe(true);
    expect(one.test("/data/a/b.csv")).toBe(false);
    expect((compileActionPattern("file.read:/data/**").resource as RegExp).test("/data/a/b.csv")).toBe(true);
    expect((compileActionPattern("message.send:alerts.?").resource as RegExp).test("alerts.x")).toBe(true);
    expect(compileActionPattern("message.send").resource).toBeNull();
  });

  it("pattern - bad characters and empty parts are rejected with a column", () => {
    expect(() => compileActionPattern("message send")).toThrow(expect.objectContaining({ column: 8 }));
    expect(() => compileActionPattern("file.read:")).toThrow(expect.objectContaining({ column: 11, reason: "empty resource after ':'" }));
    expect(() => compileActionPattern(":x")).toThrow(expect.objectContaining({ reason: "empty action" }));
  });
});
