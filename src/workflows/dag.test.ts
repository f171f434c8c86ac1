import { describe, expect, it } from "vitest";
import { planWorkflow } from "./dag.js";
import { render, stepReferences } from "./template.js";

const step = (id: string, extra: Record<string, unknown> = {}) => ({ id, agent: { name: "a" }, ...extra });

describe("workflows - dag planning", () => {
  it("orders steps dependencies first, from depends_on and input references", () => {
    const plan = planWorkflow({
      id: "w",
      steps: [
        step("c", { input: { x: "{{ steps.b.output.v }}" } }),
        step("b", { depends_on: ["a"] }),
        step("a"),
        step("d", { depends_on: ["a"] }),
      ],
    });
    expect(plan.order.indexOf("a")).toBeLessThan(plan.order.indexOf("b"));
    expect(plan.order.indexOf("b")).toBeLessThan(plan.order.indexOf("c"));
    expect([...(plan.deps.get("c") ?? [])]).toEqual(["b"]);
    expect([...plan.sinks].sort()).toEqual(["c", "d"]);
  });

  it("reports a cycle with its path", () => {
    const err = (() => {
      try {
        planWorkflow({ id: "w", steps: [step("a", { depends_on: ["c"] }), step("b", { depends_on: ["a"] }), step("c", { input: "{{ steps.b.output }}" })] });
      } catch (e) {
        return e as { code: string; details: { cycle: string[] } };
      }
      return undefined;
    })();
    expect(err?.code).toBe("WORKFLOW_INVALID");
    const cycle = err?.details.cycle ?? [];
    expect(cycle[0]).toBe(cycle[cycle.length - 1]);
    expect(new Set(cycle)).toEqual(new Set(["a", "b", "c"]));
  });

  it("rejects self-dependency, unknown steps, duplicates, bad roots and bad shapes", () => {
    const bad: unknown[] = [
      { id: "w", steps: [step("a", { depends_on: ["a"] })] },
      { id: "w", steps: [step("a", { depends_on: ["zz"] })] },
      { id: "w", steps: [step("a"), step("a")] },
      { id: "w", steps: [step("a", { input: "{{ env.HOME }}" })] },
      { id: "w", steps: [step("a")], output: "{{ steps.nope.output }}" },
      { id: "w", steps: [] },
      { id: "bad id!", steps: [step("a")] },
      { id: "w", steps: [step("a", { timeout: -1 })] },
      { id: "w", steps: [step("a", { agent: { id: "not-a-uuid" } })] },
      { id: "w", steps: [step("a")], extra: true },
      null,
      "text",
    ];
    for (const b of bad) expect(() => planWorkflow(b), JSON.stringify(b)).toThrow(expect.objectContaining({ code: "WORKFLOW_INVALID" }));
  });
});

describe("workflows - input templates", () => {
  const scope = { parameters: { n: 3, name: "x", list: [1, 2] }, steps: { a: { output: { v: { deep: true } } } } };

  it("keeps the type of a whole-string reference and interpolates inside text", () => {
    expect(render({ a: "{{ parameters.n }}", b: "n={{parameters.n}} {{ steps.a.output.v }}", c: ["{{ parameters.list[1] }}"], d: 5 }, scope)).toEqual({
      a: 3,
      b: 'n=3 {"deep":true}',
      c: [2],
      d: 5,
    });
  });

  it("names a missing value", () => {
    expect(() => render({ x: "{{ parameters.missing }}" }, scope)).toThrow(/parameters.missing/);
    expect(() => render("{{ steps.b.output }}", scope)).toThrow(expect.objectContaining({ code: "VALIDATION_FAILED" }));
  });

  it("finds step references at any depth", () => {
    expect([...stepReferences({ a: ["{{ steps.x.output }}", { b: "and {{ steps.y.output.z }}" }] })]).toEqual(["x", "y"]);
  });
});
