import { describe, expect, it } from "vitest";
import type { AgentDecl, BinaryExpr, Expr, LetStmt } from "./ast.js";
import { parse, parseExpression } from "./parser.js";
import { corpusFiles } from "./test-helpers.js";

function expr(text: string): Expr {
  const r = parseExpression(text);
  expect(r.diagnostics).toEqual([]);
  return r.expr as Expr;
}

function shape(e: Expr): unknown {
  switch (e.kind) {
    case "Binary":
      return [e.op, shape(e.left), shape(e.right)];
    case "Unary":
      return [e.op, shape(e.operand)];
    case "Ident":
      return e.name;
    case "Literal":
      return e.value;
    case "Call":
      return ["call", shape(e.callee), ...e.args.map((a) => (a.name ? { [a.name]: shape(a.value) } : shape(a.value)))];
    case "Member":
      return [".", shape(e.object), e.name];
    case "Index":
      return ["[]", shape(e.object), shape(e.index)];
    default:
      return e.kind;
  }
}

describe("dsl parser - corpus", () => {
  const valid = corpusFiles("valid");
  it("has at least 20 valid files, three of them realistic agents of 50+ lines", () => {
    expect(valid.length).toBeGreaterThanOrEqual(20);
    const long = valid.filter((f) => f.source.split("\n").length >= 50).map((f) => f.name);
    expect(long).toEqual(expect.arrayContaining(["data-validator.symbi", "incident-tracker.symbi", "webhook-handler.symbi"]));
  });

  for (const f of valid) {
    it(`parses ${f.name} with zero errors`, () => {
      const r = parse(f.source);
      expect(r.diagnostics).toEqual([]);
      expect(r.program.items.length).toBeGreaterThan(0);
    });
  }

  const invalid = corpusFiles("invalid");
  it("has at least 15 invalid files", () => {
    expect(invalid.length).toBeGreaterThanOrEqual(15);
  });

  for (const f of invalid) {
    it(`rejects ${f.name} at the expected line:col`, () => {
      const expected = [...f.source.matchAll(/^\/\/ expect (\d+):(\d+) (.+)$/gm)].map((m) => ({
        line: Number(m[1]),
        col: Number(m[2]),
        text: m[3] as string,
      }));
      expect(expected.length).toBeGreaterThan(0);
      const got = parse(f.source).diagnostics;
      expect(got.map((d) => `${d.span.start.line}:${d.span.start.col}`)).toEqual(expected.map((e) => `${e.line}:${e.col}`));
      expected.forEach((e, i) => expect(got[i]?.message).toContain(e.text));
    });
  }
});

describe("dsl parser - expressions", () => {
  it("binds by the stated precedence, all left-associative", () => {
    expect(shape(expr("a || b && c"))).toEqual(["||", "a", ["&&", "b", "c"]]);
    expect(shape(expr("a == b < c"))).toEqual(["==", "a", ["<", "b", "c"]]);
    expect(shape(expr("a + b * c - d"))).toEqual(["-", ["+", "a", ["*", "b", "c"]], "d"]);
    expect(shape(expr("a - b - c"))).toEqual(["-", ["-", "a", "b"], "c"]);
    expect(shape(expr("x in xs && not y"))).toEqual(["&&", ["in", "x", "xs"], ["not", "y"]]);
    expect(shape(expr("-a.b(c)[0]"))).toEqual(["-", ["[]", ["call", [".", "a", "b"], "c"], 0]]);
    expect(shape(expr("!a == b"))).toEqual(["==", ["!", "a"], "b"]);
    expect(shape(expr("(a + b) * c"))).toEqual(["*", ["+", "a", "b"], "c"]);
  });

  it("reads named arguments with '=' and ':' and positional ones", () => {
    expect(shape(expr("f(1, n = 2, m: 3)"))).toEqual(["call", "f", 1, { n: 2 }, { m: 3 }]);
  });

  it("reads lambdas, records, type literals, lists, vault references and durations", () => {
    const l = expr("xs.map(x => x * 2)");
    expect(l.kind === "Call" && l.args[0]?.value.kind).toBe("Lambda");
    expect(expr('{a: 1, "b c": 2}').kind).toBe("Record");
    expect(expr("Point {x: 1, y: 2}").kind).toBe("TypeLiteral");
    expect(expr("[1, 2, 3,]").kind).toBe("List");
    expect(expr("vault://db/password")).toMatchObject({ kind: "Vault", path: "db/password" });
    expect(expr("30.seconds")).toMatchObject({ kind: "Literal", type: "duration", amount: 30, unit: ".seconds", value: 30_000 });
    expect(expr("2w")).toMatchObject({ value: 14 * 86_400_000 });
    expect(expr("6months")).toMatchObject({ unit: "months" });
    expect(expr("1_000")).toMatchObject({ type: "number", value: 1000, raw: "1_000" });
  });

  it("spans are 1-based line:col", () => {
    const { program } = parse("agent a {\n  with {\n    let x = 1 + 2;\n  }\n}\n");
    const agent = program.items[0] as AgentDecl;
    const w = agent.members[0];
    const stmt = (w?.kind === "With" ? w.body.stmts[0] : undefined) as LetStmt;
    expect(stmt.span.start).toMatchObject({ line: 3, col: 5 });
    const bin = stmt.value as BinaryExpr;
    expect(bin.right.span.start).toMatchObject({ line: 3, col: 17 });
    expect(agent.nameSpan.start).toMatchObject({ line: 1, col: 7 });
  });

  it("treats keywords as names where the grammar does not expect them", () => {
    const r = parse("agent a(memory: int) {\n with {\n let true = 1;\n let type = memory;\n let filter = [type];\n filter\n }\n}\n");
    expect(r.diagnostics).toEqual([]);
  });

  it("keeps comments of both kinds with their spans", () => {
    const r = parse("# one\nmetadata { a = 1 } // two\n");
    expect(r.program.comments.map((c) => [c.marker, c.text.trim(), c.span.start.line])).toEqual([
      ["#", "one", 1],
      ["//", "two", 2],
    ]);
  });

  it("reports a trailing expression followed by more code as a missing ';'", () => {
    const r = parse("agent a {\n with {\n  1 + 2\n  let x = 1;\n x\n }\n}\n");
    expect(r.diagnostics.map((d) => `${d.span.start.line}:${d.span.start.col} ${d.message}`)).toEqual([
      "3:8 expected ';' after the expression, found 'let'",
    ]);
  });

  it("rejects assignment to something that is not a name, field or index", () => {
    const r = parse("agent a {\n with {\n f() = 1;\n }\n}\n");
    expect(r.diagnostics[0]?.message).toMatch(/cannot assign to this expression/);
    expect(r.diagnostics[0]?.span.start).toMatchObject({ line: 3, col: 2 });
  });
});
