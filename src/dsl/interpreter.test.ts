import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { runBody } from "./test-helpers.js";

const value = (body: string, input: Record<string, unknown> = {}, extra = ""): unknown => runBody(body, input, undefined, extra).value;

describe("dsl interpreter - constructs", () => {
  it("let, assignment and compound assignment on names, members and indexes", () => {
    expect(value("let a = 1; a = a + 1; a += 10; a -= 2; a *= 3; a /= 2; a %= 7; a")).toBe(((((1 + 1 + 10 - 2) * 3) / 2) % 7));
    expect(value('let r = { n: 1, l: [1, 2] }; r.n += 5; r.l[1] *= 10; r["k"] = "v"; r')).toEqual({ n: 6, l: [1, 20], k: "v" });
    expect(value('let s = "a"; s += "b"; s')).toBe("ab");
  });

  it("if/else chains and if-expressions; an if as the last statement gives the block its value", () => {
    const body = 'if x > 10 { "big" } else if x > 5 { "mid" } else { "small" }';
    expect(value(body, { x: 11 })).toBe("big");
    expect(value(body, { x: 6 })).toBe("mid");
    expect(value(body, { x: 1 })).toBe("small");
    expect(value("let y = if x { 1 } else { 2 }; y", { x: false })).toBe(2);
  });

  it("if let binds non-null values, Some/None, Ok/Err and typed records", () => {
    expect(value('let m = { a: 1 }; let t = 0; if let v = m.get("a") { t += v; } if let v = m.get("b") { t += 100; } else { t += 5; } t')).toBe(6);
    expect(value("if let Some(x) = 3 { x } else { 0 }")).toBe(3);
    expect(value("if let None = null { 1 } else { 0 }")).toBe(1);
    expect(value('if let Ok(r) = { status: "ok", v: 2 } { r.v } else { 0 }')).toBe(2);
    expect(value('if let Err(r) = { status: "not_executed" } { r.status } else { "?" }')).toBe("not_executed");
    expect(value("if let P(a, b) = (P { x: 1, y: 2 }) { a * 10 + b } else { 0 }", {}, "type P = { x: int, y: int }")).toBe(12);
    expect(value("if let Q(a) = (P { x: 1, y: 2 }) { a } else { -1 }", {}, "type P = { x: int, y: int }")).toBe(-1);
  });

  it("for-in over lists, strings and record keys; return leaves loops and the body", () => {
    expect(value("let t = 0; for x in [1, 2, 3] { t += x; } t")).toBe(6);
    expect(value('let t = ""; for c in "abc" { t = c + t; } t')).toBe("cba");
    expect(value('let ks = []; for k in { a: 1, b: 2 } { ks.push(k); } ks')).toEqual(["a", "b"]);
    expect(value("for x in [1, 2, 3] { if x == 2 { return x * 100; } } 0")).toBe(200);
  });

  it("match on strings, numbers, booleans, names, None and _", () => {
    const f = `function m(v: Any) -> String {
      match v { "a" => "str", 1 => "one", true => "yes", pending => "name", None => "none", _ => { let x = "other"; x } }
    }`;
    expect(value('[m("a"), m(1), m(true), m("pending"), m(null), m(2.5)]', {}, f)).toEqual(["str", "one", "yes", "name", "none", "other"]);
  });

  it("try/catch binds e.message, catch(Type e) filters by kind, and uncaught errors propagate", () => {
    expect(value('try { error("bad", "input"); } catch (e) { e.message }')).toBe("bad input");
    expect(value('try { error("x"); } catch (PolicyDenied e) { "policy" } catch (Error e) { e.kind }')).toBe("Error");
    expect(value('try { let r = {}; r.a.b; } catch (TypeError e) { e.message }')).toMatch(/cannot read field 'b' of a null/);
    expect(() => value('try { error("x"); } catch (PolicyDenied e) { 1 }')).toThrow("x");
  });

  it("records, lists, type literals, lambdas in map/filter and functions as values", () => {
    expect(value('{ a: [1, { b: "c" }], "quoted key": true }')).toEqual({ a: [1, { b: "c" }], "quoted key": true });
    expect(value("[1, 2, 3, 4].filter(x => x % 2 == 0).map(x => x * x)")).toEqual([4, 16]);
    expect(value("let k = 10; [1, 2].map(x => x + k)")).toEqual([11, 12]);
    expect(value("[1, 2].map(double)", {}, "function double(x: int) -> int { x * 2 }")).toEqual([2, 4]);
  });

  it("scopes: block lets shadow and end with their block; a name resolves to the let before it", () => {
    expect(value("let x = 1; if true { x = 2; let x = 10; x += 1; } x")).toBe(2);
    expect(value("let x = 1; for i in [1, 2] { let x = i * 10; x += 1; } x")).toBe(1);
    expect(() => value("for i in [1] { let y = i; } y")).toThrow(/unknown variable 'y'/);
    expect(value("let t = 0; for i in [1, 2, 3] { let sq = i * i; t += sq; } t")).toBe(14);
    expect(value("let x = 5; let x = x + 1; x")).toBe(6);
  });

  it("lambdas capture each loop iteration's variables, and see later updates of outer ones", () => {
    expect(value("let fs = []; for i in [1, 2, 3] { let k = i * 10; fs.push(x => x + i + k); } fs.map(f => f(0))")).toEqual([11, 22, 33]);
    expect(value("let n = 1; let f = x => x + n; n = 100; f(1)")).toBe(101);
    expect(value("let add = a => b => a + b; add(2)(3)")).toBe(5);
    expect(value("let r = { f: x => x * 2 }; r.f(4)")).toBe(8);
  });

  it("functions see their parameters and the file's functions, never the caller's variables", () => {
    const f = "function g(a: int) -> int { a + hidden }\nfunction h(a: int) -> int { twice(a) + 1 }\nfunction twice(a: int) -> int { a * 2 }";
    expect(() => value("let hidden = 1; g(1)", {}, f)).toThrow(/unknown variable 'hidden'/);
    expect(value("h(5)", {}, f)).toBe(11);
  });

  it("named arguments bind by parameter name; wrong arity is an error", () => {
    const f = "function sub(a: int, b: int) -> int { a - b }";
    expect(value("[sub(5, 3), sub(b = 5, a = 3), sub(5, b: 1)]", {}, f)).toEqual([2, -2, 4]);
    expect(() => value("sub(1)", {}, f)).toThrow(/missing argument 'b'/);
    expect(() => value("sub(1, 2, c = 3)", {}, f)).toThrow(/no parameter named 'c'/);
  });

  it("operators: arithmetic, comparison, equality by value, in, not, short-circuit", () => {
    expect(value('[1 + 2 * 3, (1 + 2) * 3, 7 % 4, 7 / 2, -3 + 1, "a" + 1, [1] + [2], "b" > "a"]')).toEqual([7, 9, 3, 3.5, -2, "a1", [1, 2], true]);
    expect(value('[{ a: [1] } == { a: [1] }, 1 != 2, 2 in [1, 2], "k" in { k: 1 }, "el" in "hello", not false, !null]')).toEqual([true, true, true, true, true, true, true]);
    expect(value("false && error(\"not evaluated\")")).toBe(false);
    expect(value("true || error(\"not evaluated\")")).toBe(true);
    expect(() => value("1 / 0")).toThrow(/division by zero/);
    expect(() => value('1 < "a"')).toThrow(/cannot compare/);
  });

  it("runtime errors carry the line:col of the failing expression", () => {
    try {
      value("let x = 1;\nundefined_var + 1");
      expect.unreachable();
    } catch (e) {
      expect((e as { span: { start: { line: number; col: number } } }).span.start).toMatchObject({ line: 5, col: 1 });
      expect((e as Error).message).toBe("unknown variable 'undefined_var'");
    }
  });

  it("record keys such as __proto__ and constructor are plain data", () => {
    expect(value('let r = {}; r["__proto__"] = 1; r["constructor"] = 2; [r.get("__proto__"), r.constructor, {}.constructor]')).toEqual([1, 2, null]);
  });

  it("recursion works and its depth is bounded", () => {
    const f = "function fact(n: int) -> int { if n <= 1 { return 1; } n * fact(n - 1) }";
    expect(value("fact(10)", {}, f)).toBe(3_628_800);
    expect(() => runBody("fact(1000)", {}, undefined, f, { maxSteps: 1e6, maxDepth: 50 })).toThrow(/call depth exceeded 50/);
  });

  it("the step budget stops long loops and cannot be caught", () => {
    const body = "let t = 0; try { for a in xs { for b in xs { t += 1; } } } catch (e) { t = -1; } t";
    expect(() => runBody(body, { xs: Array.from({ length: 1000 }, (_, i) => i) }, undefined, "", { maxSteps: 10_000, maxDepth: 10 })).toThrow(/step budget of 10000 exhausted/);
  });
});

describe("dsl interpreter - built-ins", () => {
  it("log sends level, message and named fields to the host", () => {
    const { calls } = runBody('log("hello", 1); log("warn", "careful"); log("x", level = "error", code = 7);');
    expect(calls.map((c) => c.args)).toEqual([
      { level: "info", message: "hello 1", fields: {} },
      { level: "warn", message: "careful", fields: {} },
      { level: "error", message: "x", fields: { code: 7 } },
    ]);
  });

  it("now asks the host's clock", () => {
    expect(runBody("now()", {}, (op) => (op === "now" ? 1234 : null)).value).toBe(1234);
  });

  it("format fills {} in order and {name} by name, with {{ }} escapes", () => {
    expect(value('format("{} + {} = {sum} {{x}}", 1, 2, sum = 3)')).toBe("1 + 2 = 3 {x}");
    expect(value('format("{}", [1, { a: null }])')).toBe('[1,{"a":null}]');
    expect(() => value('format("{} {}", 1)')).toThrow(/more \{\} than arguments/);
  });

  it("collection methods on lists, strings and records", () => {
    expect(value('let l = [3, 1]; l.push(2); [l.len(), l.length(), l.length, l.contains(1), l.is_empty(), l.get(0), l.get(9), l.join("-"), l.sort(), l.first(), l.last(), l.sum()]')).toEqual([
      3, 3, 3, true, false, 3, null, "3-1-2", [1, 2, 3], 3, 2, 6,
    ]);
    expect(value('let s = " Hi There "; [s.trim().to_lower(), s.len(), s.contains("There"), "a,b".split(","), "".is_empty(), "abc".get(1), "x-y".replace("-", "+"), "42".to_number()]')).toEqual([
      "hi there", 10, true, ["a", "b"], true, "b", "x+y", 42,
    ]);
    expect(value('let r = { a: 1 }; [r.get("a"), r.get("b"), r.get("b", 0), r.contains("a"), r.keys(), r.values(), r.len(), r.is_empty()]')).toEqual([
      1, null, 0, true, ["a"], [1], 1, false,
    ]);
    expect(() => value("[1].nope()")).toThrow(/lists have no method 'nope'/);
  });

  it("generate_id, hash_sha256 and verify_hmac_sha256", () => {
    const [id1, id2] = value("[generate_id(), generate_id()]") as string[];
    expect(id1).toMatch(/^[0-9a-f-]{36}$/);
    expect(id1).not.toBe(id2);
    expect(value('hash_sha256("abc")')).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const sig = createHmac("sha256", "s3cret").update("payload").digest("hex");
    expect(value("[verify_hmac_sha256(p, s, k), verify_hmac_sha256(p, \"sha256=\" + s, k), verify_hmac_sha256(p, s, \"wrong\"), verify_hmac_sha256(p, \"zz\", k)]", { p: "payload", s: sig, k: "s3cret" })).toEqual([
      true, true, false, false,
    ]);
  });

  it("publish, send, delegate and spawn_agent go to the host with their arguments", () => {
    const { value: v, calls } = runBody('publish("t.x", { a: 1 }); send("bob", "hi"); let r = delegate("worker", { task: "x" }); spawn_agent("child", { priority: "Low" }); r', {}, (op) =>
      op === "delegate" ? { done: true } : { ok: true },
    );
    expect(v).toEqual({ done: true });
    expect(calls).toEqual([
      { op: "publish", args: { topic: "t.x", payload: { a: 1 } } },
      { op: "send", args: { to: "bob", payload: "hi" } },
      { op: "delegate", args: { agent: "worker", input: { task: "x" } } },
      { op: "spawn_agent", args: { name: "child", config: { priority: "Low" } } },
    ]);
  });

  it("tool_call and any other unknown name are tool calls; the host's answer is the value", () => {
    const { value: v, calls } = runBody('let a = tool_call("scan", "host", deep = true); let b = whois("example.org"); [a.status, b.status]', {}, (_op, args) => ({
      status: args.tool === "scan" ? "ok" : "not_executed",
    }));
    expect(v).toEqual(["ok", "not_executed"]);
    expect(calls).toEqual([
      { op: "tool_call", args: { tool: "scan", args: ["host"], named: { deep: true } } },
      { op: "tool_call", args: { tool: "whois", args: ["example.org"], named: {} } },
    ]);
  });

  it("reason returns the answer's content and llm_call the whole answer", () => {
    const answer = { content: "42", model: "m", finish_reason: "stop", usage: null };
    const { value: v, calls } = runBody('[reason("q?", temperature = 0), llm_call([{ role: "user", content: "q" }], model = "x").model]', {}, () => answer);
    expect(v).toEqual(["42", "m"]);
    expect(calls[0]?.args).toEqual({ prompt: "q?", options: { temperature: 0 } });
  });

  it("vault references resolve through the host", () => {
    const { value: v, calls } = runBody("vault://db/password", {}, () => "pw");
    expect(v).toBe("pw");
    expect(calls).toEqual([{ op: "secret", args: { path: "db/password" } }]);
  });

  it("conversions: to_string, to_number, to_json, parse_json, len, min, max, abs", () => {
    expect(value('[to_string(1), to_number("2.5"), to_number("x"), to_json({ a: [1] }), parse_json("{\\"b\\": 2}").b, len([1, 2]), min(3, 1), max([1, 5]), abs(-2)]')).toEqual([
      "1", 2.5, null, '{"a":[1]}', 2, 2, 1, 5, 2,
    ]);
    expect(value('try { parse_json("{"); } catch (ParseError e) { "bad json" }')).toBe("bad json");
  });
});
